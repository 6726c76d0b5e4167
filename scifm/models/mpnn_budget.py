"""Whether a D-MPNN fit can give a useful model in the time it is given, asked before it starts.

Chemprop's D-MPNN (:mod:`scifm.models.mpnn`) pays a fixed start-up before its first epoch, most
of it importing Lightning (whose first import also loads ``transformers`` and ``torchmetrics``),
then about a millisecond per molecule and epoch on 2 cores. Under a small ``auto`` budget its
share can be smaller than that start-up plus :data:`MPNN_MIN_EPOCHS` epochs; the search then
leaves it out (:attr:`~scifm.models.registry.FamilySpec.auto_min_seconds`) and the share goes to
the other families, instead of spending it on a fit that gives up after its first epoch. This
module imports neither chemprop nor torch, so the registry can read it.
"""

from __future__ import annotations

import sys

__all__ = ["MPNN_MIN_EPOCHS", "mpnn_min_seconds"]

MPNN_MIN_EPOCHS = 15
"""Under a deadline that keeps the best (an ``auto`` holdout search), a D-MPNN fit in whose time
fewer epochs than this fit is given up after its first epoch, or not started when an estimate
says so (:func:`mpnn_min_seconds`): a D-MPNN trained this briefly is rarely of use, and the
time goes back to the search."""


def mpnn_min_seconds(n_rows: int) -> float:
    """A low estimate of the seconds a D-MPNN fit on ``n_rows`` molecules (train + val) needs
    for :data:`MPNN_MIN_EPOCHS` epochs, start-up included; ``auto`` does not start it in less.

    Measured on 2 cores: 6–7 s of start-up, most of it importing Lightning, whose first import
    also loads ``transformers`` and ``torchmetrics``; a first epoch (validation included: the
    give-up rule of :mod:`scifm.models.mpnn_build` times it) of about 1 ms per molecule on
    FreeSolv (577 molecules, 8.7 heavy atoms each) and 1.5 ms on ESOL (1,014 molecules, 13.3
    atoms). At 1 ms the ESOL D-MPNN was started in 27 s shares, spent 7.5 s and gave up after
    its first epoch on two seeds of three; 1.5 ms is taken, with the lower start-up (6 s).
    Halving the estimate was tried too: on FreeSolv under a 27 s budget the D-MPNN then
    started in an 8 s share, spent 5 s importing and gave up after its first epoch, and the
    families after it had 1 s each. Starting a fit that cannot finish costs its whole
    start-up; leaving out one that could just have finished costs a 15-epoch D-MPNN, which is
    rarely of use.
    """
    startup = 0.5 if "lightning.pytorch" in sys.modules else 6.0
    return startup + MPNN_MIN_EPOCHS * n_rows * 1.5e-3
