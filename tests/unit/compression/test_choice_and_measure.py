"""The choice of a compressed variant and the measures it rests on."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.compression.base import SplitRows
from scifm.compression.choice import ORIGINAL, allowed_drop, choose
from scifm.compression.measure import model_bytes, score_variant, time_predictor
from scifm.compression.tradeoff import compression_section, markdown_table, tradeoff_frame
from scifm.errors import ConfigError
from scifm.tasks import TaskSpec


def _row(name, throughput, drop, size=1000, **kw):
    return {"name": name, "throughput": throughput, "drop": drop, "size_bytes": size,
            "latency_ms": 1.0, "metric": "roc_auc", "value": 0.9, "ci95": [0.8, 0.95],
            "delta": -drop, "delta_ci95": [-drop - 0.01, -drop + 0.01], "higher_is_better": True,
            **kw}


def test_allowed_drop_defaults_and_units():
    assert allowed_drop(None, 0.9, True) == 0.01  # one point of a bounded metric
    assert allowed_drop(None, 2.0, False) == pytest.approx(0.02)  # 1% of an RMSE
    assert allowed_drop("0.03", 0.9, True) == pytest.approx(0.03)
    assert allowed_drop("5%", 0.8, False) == pytest.approx(0.04)
    for bad in ("x", "-1", "5%%"):
        with pytest.raises(ConfigError, match="max-drop"):
            allowed_drop(bad, 1.0, True)


def test_choose_takes_the_fastest_within_the_drop():
    rows = [_row(ORIGINAL, 100, 0.0), _row("fast-bad", 900, 0.05), _row("fast-ok", 500, 0.004),
            _row("slow-ok", 50, 0.0), {"name": "broken", "error": "boom"}]
    assert choose(rows, 0.01) == "fast-ok"
    assert choose(rows, 0.1) == "fast-bad"
    assert choose(rows, 0.0) == ORIGINAL  # only no-drop rows; the original is faster than slow-ok


def test_choose_never_picks_a_slower_variant():
    rows = [_row(ORIGINAL, 100, 0.0), _row("slower", 80, -0.02)]  # better metric, but slower
    assert choose(rows, 0.01) == ORIGINAL


def test_score_variant_drop_sign_follows_the_metric():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(200, 1))
    good, bad = y + 0.1 * rng.normal(size=y.shape), y + 0.5 * rng.normal(size=y.shape)
    test = SplitRows([str(i) for i in range(200)], y)
    reg = TaskSpec("regression", ["t"])
    s = score_variant(reg, test, bad, good, n_bootstrap=200)
    assert s["metric"] == "rmse" and s["delta"] > 0 and s["drop"] == s["delta"]
    lo, hi = s["delta_ci95"]
    assert lo <= s["delta"] <= hi and lo > 0  # clearly worse: the CI excludes 0
    yb = (rng.random((300, 1)) < 0.5).astype(float)
    p_good = np.clip(yb * 0.6 + 0.2 + 0.1 * rng.normal(size=yb.shape), 0, 1)
    p_bad = np.clip(0.5 + 0.3 * rng.normal(size=yb.shape), 0, 1)
    binary = TaskSpec("binary", ["a"], classes=[0, 1])
    s = score_variant(binary, SplitRows(list(range(300)), yb), p_bad, p_good, n_bootstrap=200)
    assert s["metric"] == "roc_auc" and s["delta"] < 0 and s["drop"] == -s["delta"] > 0


def test_model_bytes_counts_only_the_model(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"x" * 1000)
    (tmp_path / "README.md").write_text("card " * 100)
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "uncertainty").mkdir()
    (tmp_path / "uncertainty" / "reference.json").write_text("[1]" * 100)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "w.safetensors").write_bytes(b"y" * 24)
    assert model_bytes(tmp_path) == 1024


class _Counting:
    def __init__(self):
        self.sizes = []

    def predict(self, x):
        self.sizes.append(len(x))
        return np.zeros((len(x), 1))


def test_time_predictor_times_single_inputs_and_batches():
    model = _Counting()
    t = time_predictor(model, list(range(100)), n_single=10, min_seconds=0.01)
    assert t.n_single == 10 and model.sizes[1:11] == [1] * 10
    assert max(model.sizes[11:]) == 64 and t.n_batched >= 512 and t.throughput > 0


def test_tradeoff_table_marks_the_choice_and_failures():
    rows = [_row(ORIGINAL, 100, 0.0, size=4000), _row("onnx-int8", 300, 0.002, size=1000),
            {"name": "prune", "error": "no heads"}]
    frame = tradeoff_frame(rows)
    r = frame.set_index("variant").loc["onnx-int8"]
    assert r["size_ratio"] == pytest.approx(4.0) and r["speedup_b64"] == pytest.approx(3.0)
    md = markdown_table(rows, "onnx-int8")
    assert "onnx-int8 (chosen)" in md and "failed: no heads" in md
    html = compression_section({"variants": rows, "chosen": "onnx-int8", "metric": "roc_auc",
                                "max_drop": 0.01, "n_test": 50})
    assert html.startswith('<section id="compression">') and "<svg" in html
