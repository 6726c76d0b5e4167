"""The part of :func:`scifm.recipes.train.train` that ranks > 0 run under a distributed launcher.

``torchrun --nproc_per_node N -m scifm train ...`` (or ``accelerate launch -m scifm train ...``)
starts N copies of the command. Rank 0 runs the whole recipe and alone writes the run directory,
the report and the MLflow run. The other ranks read and split the same data the same way (every
step is seeded), join ``transformers.Trainer`` for the transformer family (DDP; the Trainer shards
the batches and averages the gradients) and otherwise only meet rank 0 at the same barriers:
one after each family's fit and one at the end.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from scifm.config.schema import ExperimentConfig
from scifm.data.clean import clean_table
from scifm.data.io import read_table
from scifm.data.splitting import make_split
from scifm.errors import ConfigError
from scifm.models import build_predictor
from scifm.recipes.train import TrainResult
from scifm.rundir import RunDir
from scifm.training.distributed import barrier, rank
from scifm.utils.seed import seed_everything

logger = logging.getLogger(__name__)

DISTRIBUTED_FAMILIES = ("transformer",)
"""Families trained by ``transformers.Trainer``, hence by every process."""


def train_worker(cfg: ExperimentConfig) -> TrainResult:
    """Train alongside rank 0 without writing anything; returns an empty result."""
    run = RunDir(Path(cfg.out))
    seed_everything(cfg.seed)
    if cfg.data.path is None:
        raise ConfigError("no input data: pass --data FILE (or data.path in the config)")
    cleaned = clean_table(read_table(cfg.data.path, cfg.data.format), cfg.data,
                          source=str(cfg.data.path))
    ds = cleaned.dataset
    splits = make_split(ds, cfg.split, seed=cfg.seed)
    x = np.asarray(ds.inputs, dtype=object)
    tr, va = splits["train"], splits["val"]
    families = ["lightgbm", "transformer"] if cfg.model.family == "both" else [cfg.model.family]
    for family in families:
        if family in DISTRIBUTED_FAMILIES:
            fam_run = run if len(families) == 1 else run.family(family)
            seed_everything(cfg.seed)
            predictor = build_predictor(family, ds.task, cfg.data.modality, cfg,
                                        work_dir=fam_run.root)
            logger.debug("rank %d: fitting %s", rank(), family)
            predictor.fit(list(x[tr]), ds.y[tr], list(x[va]) if len(va) else None,
                          ds.y[va] if len(va) else None)
        barrier()  # matches the barrier after each fit on rank 0
    barrier()  # rank 0 has written the run directory
    return TrainResult(run.root, "", {})
