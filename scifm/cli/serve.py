"""``scifm serve``: HTTP predictions from trained run directories (FastAPI + uvicorn).

Parse, check the bind address, build the app (:func:`scifm.serving.app.create_app`: the models
are loaded once, before the server listens) and run uvicorn. Binds 127.0.0.1 by default; a
non-loopback host needs an API key (the ``--api-key-env`` variable) or ``--allow-public``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

import typer

from scifm.cli.app import app, friendly_errors
from scifm.errors import ConfigError

KEEP_ALIVE_S = 75
"""Seconds an idle HTTP connection stays open (uvicorn's default is 5)."""

logger = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(host: str, api_key_env: str, allow_public: bool) -> None:
    """Refuse a non-loopback host without an API key unless ``allow_public``."""
    if not _loopback(host) and not os.environ.get(api_key_env) and not allow_public:
        raise ConfigError(f"--host {host} is reachable from other machines and ${api_key_env} "
                          "is not set: set an API key in it, or pass --allow-public")


@app.command()
@friendly_errors
def serve(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories written by `scifm train`; "
                                          "each is served under its directory name."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    api_key_env: str = typer.Option("SCIFM_API_KEY", help="Environment variable holding the "
                                    "API key that /v1 requests must send (X-API-Key header); "
                                    "unset: no key."),
    max_items: int = typer.Option(1000, min=1, help="Most inputs per request (more: 413)."),
    max_body_mb: float = typer.Option(10.0, min=0, help="Largest request body in MB "
                                      "(larger: 413)."),
    timeout: float = typer.Option(30.0, min=0, help="Seconds a request may take (longer: 504)."),
    allow_public: bool = typer.Option(False, help="Allow a non-loopback --host without an API "
                                      "key."),
) -> None:
    """Serve predictions over HTTP: POST /v1/models/NAME/predict, GET /v1/models, /health,
    /ready, /docs."""
    from scifm.serving.app import ServeSettings, create_app, model_names

    for run_dir in run_dirs:
        if not run_dir.is_dir():
            raise ConfigError(f"{run_dir} is not a run directory (no such folder)")
    model_names(run_dirs)  # duplicates: one line before any model is loaded
    check_bind(host, api_key_env, allow_public)
    settings = ServeSettings(api_key_env=api_key_env, max_items=max_items,
                             max_body_bytes=int(max_body_mb * 2**20), timeout_s=timeout)
    server = create_app(run_dirs, settings)
    import uvicorn

    logger.info("serving %s on http://%s:%d (API key %s)", ", ".join(server.state.models), host,
                port, "required" if os.environ.get(api_key_env) else "off")
    # Keep-alive longer than clients' idle expiry (httpx, requests pools: 5 s, uvicorn's own
    # default): a server that closes an idle connection at the moment a client reuses it makes
    # that client's request fail with a closed connection.
    uvicorn.run(server, host=host, port=port, access_log=False, log_level="warning",
                timeout_keep_alive=KEEP_ALIVE_S)
