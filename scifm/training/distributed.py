"""Several training processes (``torchrun`` / ``accelerate launch``): who writes, who waits.

``transformers.Trainer`` does the distributed training itself (DDP, or FSDP / DeepSpeed from its
arguments); the process group is created by ``TrainingArguments`` (gloo on CPU, NCCL on GPU). The
recipes only need to know whether this process is the main one (rank 0: it alone writes the run
directory, the report and the MLflow run) and to make the others wait for it.

The launchers set ``RANK`` / ``WORLD_SIZE`` in the environment, so these helpers work before the
process group exists.
"""

from __future__ import annotations

import logging
import os
import sys
from types import ModuleType

logger = logging.getLogger(__name__)


def _group() -> ModuleType | None:
    """``torch.distributed`` when a process group is initialised, else None.

    torch is imported only when something already loaded it: without torch no process group can
    exist, and a process that never needs torch (screening with a LightGBM model) keeps its
    start-up about a second shorter."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank() -> int:
    """Global rank of this process (0 when not launched by a distributed launcher)."""
    dist = _group()
    if dist is not None:
        return int(dist.get_rank())
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Number of training processes (1 when not distributed)."""
    dist = _group()
    if dist is not None:
        return int(dist.get_world_size())
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process writes outputs (rank 0)."""
    return rank() == 0


def barrier() -> None:
    """Wait for every process (no-op without an initialised process group)."""
    dist = _group()
    if dist is not None:
        dist.barrier()


def backend() -> str | None:
    """Backend of the initialised process group (``gloo``, ``nccl``), else None."""
    dist = _group()
    if dist is not None:
        return str(dist.get_backend())
    return None
