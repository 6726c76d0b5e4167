"""HTTP serving of trained run directories: :mod:`scifm.serving.models` (a run directory loaded
once, also the Python API ``scifm.load``), :mod:`scifm.serving.app` (the FastAPI app) and
:mod:`scifm.serving.batching` (concurrent requests predicted together)."""
