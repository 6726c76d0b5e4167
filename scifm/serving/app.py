"""The HTTP adapter: ``create_app(run_dirs, settings)`` -> a FastAPI app serving those models.

Endpoints: ``GET /health`` (the process answers), ``GET /ready`` (every model loaded, its batcher
alive), ``GET /v1/models`` (metadata, task, metrics, model card), ``GET /v1/models/{name}``,
``POST /v1/models/{name}/predict`` (a batch of inputs -> one result per item: an invalid input
is a result with ``status="invalid"`` and its reason, never a failed request), and the OpenAPI
schema (``/openapi.json``, ``/docs``).

Safe by default: when the environment variable named by ``ServeSettings.api_key_env`` is set,
``/v1/*`` needs that key (``X-API-Key`` header or ``Authorization: Bearer``; compared in constant
time; 401 otherwise); request bodies over ``max_body_bytes`` (the ``Content-Length`` header and
the body actually read) and requests over ``max_items`` items get 413 with a clear message; a
prediction over ``timeout_s`` seconds gets 504. One log line per request: method, path, status,
item count, latency; never the inputs, never the key. The models are loaded once, here; the
prediction itself is :meth:`scifm.serving.models.ServedModel.predict`, batched across concurrent
requests by :class:`scifm.serving.batching.MicroBatcher`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from scifm.errors import ConfigError
from scifm.serving.batching import MicroBatcher
from scifm.serving.models import ServedModel

logger = logging.getLogger(__name__)

__all__ = ["ServeSettings", "create_app", "model_names"]


@dataclass
class ServeSettings:
    """Limits and security of the server (``scifm serve``'s options)."""

    api_key_env: str = "SCIFM_API_KEY"
    """Environment variable holding the API key; unset or empty: no key needed."""
    max_items: int = 1000
    """Most inputs in one request (more: 413)."""
    max_body_bytes: int = 10 * 2**20
    """Largest request body (larger: 413)."""
    timeout_s: float = 30.0
    """Longest a request waits for its predictions (longer: 504)."""
    batch_wait_ms: float = 5.0
    """How long a request waits for concurrent ones to be predicted with (micro-batching)."""


class PredictRequest(BaseModel):
    """A batch of inputs for one model."""

    inputs: list[str | dict[str, str | None]] = Field(
        min_length=1, description="One item per input: the primary input (SMILES, sequence, "
        "text) or {input column: value} for models with several input columns.",
        examples=[["CCO", "c1ccccc1"]])


class ItemResult(BaseModel):
    """One item's result; the model's prediction columns (``pred_*``, ``prob_*``, intervals,
    ...) follow the fields below, null for an invalid item."""

    model_config = ConfigDict(extra="allow")
    input: Any = Field(description="The input as given.")
    canonical: str | None = Field(description="Canonical form (e.g. canonical SMILES).")
    status: Literal["ok", "invalid"]
    error: str | None = Field(description="Why the item is invalid; null when ok.")


class PredictResponse(BaseModel):
    model: str
    n_items: int
    n_invalid: int
    results: list[ItemResult]


class ModelInfo(BaseModel):
    name: str
    family: str
    modality: str
    task: dict[str, Any]
    input_cols: list[str]
    uncertainty: bool = Field(description="Whether results carry intervals / sets.")
    metrics: dict[str, Any] | None = Field(description="The run's metrics.json (NaN as null).")
    card: str | None = Field(description="The model card (markdown).")


class ModelList(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: str


class Status(BaseModel):
    status: str
    models: list[str]


def model_names(run_dirs: Sequence[str | Path]) -> list[str]:
    """The served names (the run directories' names); one clear error on a duplicate."""
    names = [Path(d).resolve().name for d in run_dirs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"two run directories are named {dupes[0]!r}: models are served under "
                          "their directory names, which must be unique (rename or copy one)")
    return names


def _key_check(settings: ServeSettings) -> Any:
    """The dependency that checks the API key (none when the variable is unset or empty)."""
    expected = os.environ.get(settings.api_key_env) or None
    header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    def check(key: str | None = Security(header),
              cred: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        if expected is None:
            return
        given = key or (cred.credentials if cred else "")
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(401, "missing or wrong API key: send it in the X-API-Key header "
                                "(or Authorization: Bearer)", {"WWW-Authenticate": "Bearer"})

    return check


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` (declared or read) is answered with 413."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message], receive), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._too_large(scope, receive, send)
            more = message.get("more_body", False)
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _too_large(self, scope: dict, receive: Any, send: Any) -> None:
        mb = self.max_bytes / 2**20
        response = JSONResponse({"detail": f"request body too large: the limit is {mb:g} MB; "
                                 "send fewer or smaller inputs per request"}, status_code=413)
        await response(scope, receive, send)


def _replay(messages: list[dict], receive: Any) -> Any:
    async def replayed() -> dict:
        return messages.pop(0) if messages else await receive()

    return replayed


class RequestLog:
    """ASGI middleware: one log line per request (method, path, status, items, latency)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        status = {"code": 500}
        start = time.perf_counter()

        async def sent(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            ms = 1000 * (time.perf_counter() - start)
            logger.info("%s %s %d items=%s %.1fms", scope["method"], scope["path"],
                        status["code"], state.get("n_items", "-"), ms)


def _routes(models: dict[str, ServedModel], batchers: dict[str, MicroBatcher],
            settings: ServeSettings) -> APIRouter:
    """The ``/v1`` endpoints (behind the API key when one is set)."""
    router = APIRouter(prefix="/v1", dependencies=[Security(_key_check(settings))])

    def served(name: str) -> ServedModel:
        if name not in models:
            raise HTTPException(404, f"no model named {name!r}; served: {', '.join(models)}")
        return models[name]

    @router.get("/models", response_model=ModelList)
    def list_models() -> dict:
        """Every served model: metadata, task, metrics and model card."""
        return {"models": [m.info() for m in models.values()]}

    @router.get("/models/{name}", response_model=ModelInfo, responses={404: {}})
    def model_info(name: str) -> dict:
        """One model's metadata, task, metrics and model card."""
        return served(name).info()

    @router.post("/models/{name}/predict", response_model=PredictResponse,
                 responses={401: {}, 404: {}, 413: {}, 504: {}})
    async def predict(name: str, body: PredictRequest, request: Request) -> dict:
        """Predict a batch: one result per input, in order; invalid inputs are results with
        ``status="invalid"`` and the reason in ``error``."""
        model = served(name)
        request.state.n_items = len(body.inputs)
        if len(body.inputs) > settings.max_items:
            raise HTTPException(413, f"{len(body.inputs)} inputs in one request; the limit is "
                                f"{settings.max_items}: split the batch")
        try:
            results = await asyncio.wait_for(batchers[name].submit(body.inputs),
                                             settings.timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"prediction took longer than {settings.timeout_s:g} s; "
                                "send fewer inputs per request") from None
        n_invalid = sum(r["status"] != "ok" for r in results)
        return {"model": model.name, "n_items": len(results), "n_invalid": n_invalid,
                "results": results}

    return router


def create_app(run_dirs: Sequence[str | Path],
               settings: ServeSettings | None = None) -> FastAPI:
    """A FastAPI app serving the models of ``run_dirs`` (loaded now, once; names: the run
    directories' names)."""
    settings = settings or ServeSettings()
    names = model_names(run_dirs)
    models = {n: ServedModel.load(d, name=n) for n, d in zip(names, run_dirs, strict=True)}
    batchers = {n: MicroBatcher(m.predict, settings.batch_wait_ms / 1000, settings.max_items)
                for n, m in models.items()}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        for batcher in batchers.values():
            await batcher.close()

    app = FastAPI(title="scifm", summary="Predictions from trained scifm run directories.",
                  lifespan=lifespan)
    app.state.models, app.state.batchers = models, batchers

    @app.get("/health", response_model=Health)
    def health() -> dict:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/ready", response_model=Status, responses={503: {"model": Status}})
    def ready() -> Any:
        """Every model is loaded and its batcher alive (else 503)."""
        if not models or not all(b.healthy for b in batchers.values()):
            return JSONResponse({"status": "not ready", "models": list(models)}, 503)
        return {"status": "ready", "models": list(models)}

    app.include_router(_routes(models, batchers, settings))
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog)  # outermost: logs the 413s of BodyLimit too
    return app
