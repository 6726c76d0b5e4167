"""The text plug-in: Unicode and whitespace normalisation."""

from __future__ import annotations

import pytest

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data.datapoints import InvalidInput


def _v(modality: str, **kw):
    return MODALITIES.get(modality).validator(DataConfig(**kw))


def test_text_normalisation():
    v = _v("text")
    assert v("  The \ufb01rst\u00a0 result\n\t") == "The first result"
    assert _v("text", text={"lowercase": True})("Hello  World") == "hello world"
    with pytest.raises(InvalidInput, match="empty input"):
        v(" \u3000 \n")


