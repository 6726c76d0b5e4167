"""bf16 resolution."""

from __future__ import annotations

import pytest

from scifm.errors import ConfigError
from scifm.training import device


def test_off_is_always_off_and_auto_follows_support(monkeypatch) -> None:
    assert device.resolve_bf16("off") is False
    monkeypatch.setattr(device, "bf16_supported", lambda d=None: True)
    assert device.resolve_bf16("auto") is True and device.resolve_bf16("on") is True
    monkeypatch.setattr(device, "bf16_supported", lambda d=None: False)
    assert device.resolve_bf16("auto") is False


def test_on_without_support_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setattr(device, "bf16_supported", lambda d=None: False)
    with pytest.raises(ConfigError, match="train.bf16"):
        device.resolve_bf16("on")
    with pytest.raises(ConfigError):
        device.resolve_bf16("maybe")  # type: ignore[arg-type]


def test_cpu_support_reads_the_cpu_flags(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert device.bf16_supported("cpu") is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert device.bf16_supported("cpu") is True
    assert device.bf16_supported("mps") is False
