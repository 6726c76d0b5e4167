"""Serving load test (issue 13 item 4; not a test): ``scifm serve`` against a naive endpoint.

For each ``--run`` directory the same model is served two ways, one after the other, each by a
uvicorn subprocess on a free loopback port: (a) ``scifm serve RUN`` (concurrent requests are
micro-batched into one predict call) and (b) a naive FastAPI app defined here, whose endpoint
calls ``scifm.load(RUN).predict(inputs)`` once per request (no batching; FastAPI runs the sync
endpoint in its thread pool). ``--concurrency`` async httpx clients post ``--batch`` SMILES each,
back to back, for ``--duration`` seconds (the loop stops by itself), after a warm-up; then the
server is stopped. Reported per cell: requests/s, items/s, p50 / p99 latency, errors (non-200
answers and failed requests), and per run the ratio (a)/(b) of requests/s. The client shares the
machine with the server (2 cores here), so absolute numbers are a lower bound; each row records
the machine's 1-minute load average at its end (other jobs inflate latency).

Prints a Markdown table and appends one JSON line per cell to
``bench/results/serving_load.jsonl``.

Usage::

    python bench/serving_load.py --run runs/freesolv_lgbm --run runs/freesolv_int8 \\
        --duration 15 --concurrency 32 --batch 1
    # a server already running: one cell, no comparison
    scifm serve runs/freesolv & python bench/serving_load.py --url http://127.0.0.1:8000 \\
        --model freesolv --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "ClC(Cl)Cl", "CC(C)O",
          "c1ccc2ccccc2c1", "OC(=O)c1ccccc1", "not_a_smiles", "CCCCCCCC"]
"""The inputs cycled through (one invalid: answered as an invalid item, not an error)."""
RESULTS = Path(__file__).resolve().parent / "results"
READY_TIMEOUT_S = 180.0


async def _client(http: httpx.AsyncClient, url: str, body: dict, until: float,
                  latencies: list[float], errors: list[str]) -> None:
    while time.perf_counter() < until:
        start = time.perf_counter()
        try:
            res = await http.post(url, json=body)
        except httpx.HTTPError as err:  # counted, never fatal: the loop keeps its duration
            errors.append(type(err).__name__)
            continue
        latencies.append(time.perf_counter() - start)
        if res.status_code != 200:
            errors.append(str(res.status_code))


async def load(base: str, model: str, duration: float, concurrency: int, batch: int) -> dict:
    """Run the loop; returns requests/s, items/s, p50 / p99 latency (ms) and the error count."""
    url = f"{base}/v1/models/{model}/predict"
    body = {"inputs": [SMILES[i % len(SMILES)] for i in range(batch)]}
    headers = {"X-API-Key": os.environ["SCIFM_API_KEY"]} if os.environ.get("SCIFM_API_KEY") else {}
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http:
        for _ in range(3):  # warm-up (first requests load lazy parts, fill caches)
            (await http.post(url, json=body)).raise_for_status()
        start = time.perf_counter()
        await asyncio.gather(*(_client(http, url, body, start + duration, latencies, errors)
                               for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ms = sorted(1000 * t for t in latencies) or [float("nan")]
    return {"requests_per_s": len(latencies) / elapsed,
            "items_per_s": len(latencies) * batch / elapsed,
            "p50_ms": statistics.median(ms), "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
            "n_requests": len(latencies), "n_errors": len(errors),
            "error_kinds": sorted(set(errors)), "elapsed_s": elapsed}


class Body(BaseModel):
    """The naive endpoint's request: the same body as ``scifm serve``'s (plain inputs)."""

    inputs: list[str]


def naive_app(run_dir: Path) -> FastAPI:
    """The naive endpoint: the same loaded model, called once per request, no batching."""
    import scifm

    model = scifm.load(run_dir)
    app = FastAPI(title="naive")

    @app.get("/ready")
    def ready() -> dict:
        return {"status": "ready", "models": [model.name]}

    @app.post("/v1/models/{name}/predict")
    def predict(name: str, body: Body) -> dict:
        if name != model.name:
            raise HTTPException(404, f"no model named {name!r}")
        results = model.predict(body.inputs)
        return {"model": model.name, "n_items": len(results),
                "n_invalid": sum(r["status"] != "ok" for r in results), "results": results}

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command(kind: str, run_dir: Path, port: int) -> list[str]:
    if kind == "scifm serve":
        return [sys.executable, "-m", "scifm", "-q", "serve", str(run_dir), "--host",
                "127.0.0.1", "--port", str(port)]
    return [sys.executable, __file__, "--naive-app", str(run_dir), "--port", str(port)]


def _wait_ready(proc: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server was not ready after {READY_TIMEOUT_S:.0f} s; see {log}")


def run_cell(kind: str, run_dir: Path, args: argparse.Namespace) -> dict:
    """Start one server (subprocess), wait for /ready, run the load, stop the server."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"serving_load_{run_dir.name}_{kind.replace(' ', '_')}.log"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(_server_command(kind, run_dir, port), stdout=out,
                                stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(proc, base, log)
            stats = asyncio.run(load(base, run_dir.resolve().name, args.duration,
                                     args.concurrency, args.batch))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    meta = json.loads((run_dir / "model" / "scifm.json").read_text())
    return {"model": run_dir.name, "family": meta["family"], "server": kind,
            "concurrency": args.concurrency, "batch": args.batch,
            "duration_s": args.duration, "load_avg_1m": os.getloadavg()[0], **stats}


def table(rows: list[dict]) -> str:
    """The Markdown table of the cells, with (a)/(b) per model."""
    lines = ["| model | family | server | clients | items/request | requests/s | items/s | "
             "p50 ms | p99 ms | errors | (a)/(b) requests/s |", "|" + "---|" * 11]
    naive = {r["model"]: r["requests_per_s"] for r in rows if r["server"] == "naive"}
    for r in rows:
        ratio = ""
        if r["server"] == "scifm serve" and naive.get(r["model"]):
            ratio = f"{r['requests_per_s'] / naive[r['model']]:.2f}x"
        lines.append(f"| {r['model']} | {r['family']} | {r['server']} | {r['concurrency']} | "
                     f"{r['batch']} | {r['requests_per_s']:.1f} | {r['items_per_s']:.1f} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['n_errors']} | {ratio} |")
    return "\n".join(lines)


def _record(rows: list[dict]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with open(RESULTS / "serving_load.jsonl", "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({"time": stamp, "host": platform.node(),
                                 "cpus": os.cpu_count(), **row}) + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, action="append", default=[],
                        help="Run directory (repeatable): served by `scifm serve` and naively.")
    parser.add_argument("--url", help="A running server instead (one cell, no comparison).")
    parser.add_argument("--model", help="Model name at --url.")
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds per cell "
                        "(at most 120).")
    parser.add_argument("--concurrency", type=int, default=32, help="Concurrent clients.")
    parser.add_argument("--batch", type=int, default=1, help="Inputs per request.")
    parser.add_argument("--naive-app", type=Path, help=argparse.SUPPRESS)  # the (b) subprocess
    parser.add_argument("--port", type=int, default=8000, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.naive_app:
        import uvicorn

        uvicorn.run(naive_app(args.naive_app), host="127.0.0.1", port=args.port,
                    access_log=False, log_level="warning")
        return
    args.duration = min(args.duration, 120.0)
    if args.url:
        if not args.model:
            sys.exit("--url needs --model")
        stats = asyncio.run(load(args.url, args.model, args.duration, args.concurrency,
                                 args.batch))
        print(json.dumps(stats, indent=1))
        return
    if not args.run:
        sys.exit("give --run RUN_DIR (repeatable) or --url")
    rows = []
    for run_dir in args.run:
        for kind in ("scifm serve", "naive"):
            rows.append(run_cell(kind, run_dir, args))
            print(f"{run_dir.name} / {kind}: {rows[-1]['requests_per_s']:.1f} requests/s",
                  file=sys.stderr)
    _record(rows)
    print(table(rows))


if __name__ == "__main__":
    main()
