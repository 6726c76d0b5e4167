"""Where training runs and whether bf16 autocast is available there."""

from __future__ import annotations

import logging
from typing import Literal

import torch

from scifm.errors import ConfigError

logger = logging.getLogger(__name__)

Bf16Setting = Literal["auto", "on", "off"]


def accelerator() -> str:
    """``cuda`` when a CUDA GPU is visible, else ``cpu`` (MPS is not used: no bf16 autocast)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _cpu_bf16_supported() -> bool:
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        fn = getattr(torch.cpu, name, None)
        try:
            if fn is not None and fn():
                return True
        except Exception:  # private torch helpers; failure means "no"
            continue
    return False


def bf16_supported(device: str | None = None) -> bool:
    """Whether bf16 autocast is fast and supported on ``device`` (default: :func:`accelerator`).

    CUDA: :func:`torch.cuda.is_bf16_supported`; CPU: native bf16 instructions (AVX512-BF16 or
    AMX), since emulated bf16 on older CPUs is slower than fp32.
    """
    device = device or accelerator()
    if device == "cuda":
        try:
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        except Exception:
            return False
    if device == "cpu":
        return _cpu_bf16_supported()
    return False


def resolve_bf16(setting: Bf16Setting, device: str | None = None) -> bool:
    """Turn ``train.bf16`` (``auto``/``on``/``off``) into a yes/no for this machine.

    Raises
    ------
    ConfigError
        ``on`` on a machine without bf16 support.
    """
    if setting == "off":
        return False
    supported = bf16_supported(device)
    if setting == "on":
        if not supported:
            raise ConfigError(
                f"train.bf16: 'on' but this {device or accelerator()} has no bf16 support "
                "(use 'auto' or 'off')"
            )
        return True
    if setting == "auto":
        logger.debug("bf16 auto -> %s", supported)
        return supported
    raise ConfigError(f"train.bf16: {setting!r} is not one of auto, on, off")
