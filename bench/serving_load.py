"""Load loop for ``scifm serve`` (issue 13 item 3; not a test): requests/s and latency p50 / p99.

``--concurrency`` clients post ``--batch`` SMILES each, back to back, for ``--duration`` seconds
on loopback; concurrent requests are micro-batched by the server. Either point it at a running
server (``--url``) or give a run directory (``--run``): a server is then started in this
process on a free loopback port and stopped at the end.

Usage::

    scifm serve runs/freesolv &  python bench/serving_load.py --url http://127.0.0.1:8000 \\
        --model freesolv --duration 10
    python bench/serving_load.py --run runs/freesolv --duration 10 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import threading
import time
from pathlib import Path

import httpx

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "ClC(Cl)Cl", "CC(C)O",
          "c1ccc2ccccc2c1", "OC(=O)c1ccccc1", "not_a_smiles", "CCCCCCCC"]


async def _client(http: httpx.AsyncClient, url: str, body: dict, until: float,
                  latencies: list[float], errors: list[int]) -> None:
    while time.perf_counter() < until:
        start = time.perf_counter()
        res = await http.post(url, json=body)
        latencies.append(time.perf_counter() - start)
        if res.status_code != 200:
            errors.append(res.status_code)


async def load(base: str, model: str, duration: float, concurrency: int, batch: int) -> dict:
    """Run the loop; returns requests/s, items/s, p50 / p99 latency (ms) and the error count."""
    url = f"{base}/v1/models/{model}/predict"
    body = {"inputs": [SMILES[i % len(SMILES)] for i in range(batch)]}
    headers = {"X-API-Key": os.environ["SCIFM_API_KEY"]} if os.environ.get("SCIFM_API_KEY") else {}
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http:
        await http.post(url, json=body)  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(_client(http, url, body, start + duration, latencies, errors)
                               for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ms = sorted(1000 * t for t in latencies)
    return {"requests_per_s": len(ms) / elapsed, "items_per_s": len(ms) * batch / elapsed,
            "p50_ms": statistics.median(ms), "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
            "n_requests": len(ms), "n_errors": len(errors)}


def _start_server(run_dir: Path) -> tuple[str, object]:
    import uvicorn

    from scifm.serving.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app([run_dir]), host="127.0.0.1", port=port,
                                           access_log=False, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="A running server (default: start one for --run).")
    parser.add_argument("--run", type=Path, help="Run directory to serve in this process.")
    parser.add_argument("--model", help="Model name (default: the --run directory's name).")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds (at most 20).")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=10, help="Inputs per request.")
    args = parser.parse_args()
    if not args.url and not args.run:
        parser.error("give --url or --run")
    server = None
    base = args.url
    if args.run:
        base, server = _start_server(args.run)
    model = args.model or Path(args.run).resolve().name
    try:
        stats = asyncio.run(load(base, model, min(args.duration, 20.0), args.concurrency,
                                 args.batch))
    finally:
        if server is not None:
            server.should_exit = True
    print(f"{stats['requests_per_s']:.1f} requests/s ({stats['items_per_s']:.0f} items/s), "
          f"p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms, "
          f"{stats['n_requests']} requests, {stats['n_errors']} errors "
          f"(concurrency {args.concurrency}, batch {args.batch})")


if __name__ == "__main__":
    main()
