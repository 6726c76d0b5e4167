"""Dynamic micro-batching: concurrent requests are predicted in one call and split back in
order; a timed-out request is skipped; a failing request does not fail the others."""

from __future__ import annotations

import asyncio

import pytest

from scifm.serving.batching import MicroBatcher
from scifm.serving.models import plain


def _calls() -> tuple[list[list], object]:
    calls: list[list] = []

    def predict(items: list) -> list:
        calls.append(list(items))
        if "boom" in items:
            raise ValueError("boom")
        return [f"y({x})" for x in items]

    return calls, predict


def test_concurrent_requests_share_one_call():
    calls, predict = _calls()
    batcher = MicroBatcher(predict, max_wait_s=0.05)

    async def main():
        results = await asyncio.gather(*(batcher.submit([f"a{i}", f"b{i}"]) for i in range(5)))
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert results == [[f"y(a{i})", f"y(b{i})"] for i in range(5)]
    assert len(calls) == 1 and batcher.n_calls == 1


def test_max_items_splits_batches():
    calls, predict = _calls()
    batcher = MicroBatcher(predict, max_wait_s=0.05, max_items=4)

    async def main():
        out = await asyncio.gather(*(batcher.submit([i, i]) for i in range(4)))
        await batcher.close()
        return out

    assert asyncio.run(main()) == [[f"y({i})", f"y({i})"] for i in range(4)]
    assert [len(c) for c in calls] == [4, 4]


def test_a_failing_request_fails_alone():
    calls, predict = _calls()
    batcher = MicroBatcher(predict, max_wait_s=0.05)

    async def main():
        out = await asyncio.gather(batcher.submit(["x"]), batcher.submit(["boom"]),
                                   batcher.submit(["z"]), return_exceptions=True)
        healthy = batcher.healthy
        await batcher.close()
        return out, healthy

    (x, boom, z), healthy = asyncio.run(main())
    assert x == ["y(x)"] and z == ["y(z)"] and isinstance(boom, ValueError)
    assert healthy


def test_timed_out_requests_are_skipped():
    calls, predict = _calls()
    batcher = MicroBatcher(predict, max_wait_s=0.05)

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(batcher.submit(["late"]), 0.001)
        out = await batcher.submit(["on time"])
        await batcher.close()
        return out

    assert asyncio.run(main()) == ["y(on time)"]
    assert ["late"] not in calls


def test_plain_makes_nan_null():
    import numpy as np

    assert plain({"a": float("nan"), "b": [np.float32(1.5), np.inf], "c": np.int64(3),
                  "d": np.array([np.nan, 2.0])}) == {"a": None, "b": [1.5, None], "c": 3,
                                                     "d": [None, 2.0]}
