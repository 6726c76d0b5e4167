"""Trust in every prediction: uncertainty (calibration, conformal intervals and sets, applicability
domain), fairness audit, model card and registry."""
