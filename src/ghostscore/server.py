"""HTTP service: ``POST /v1/score``, ``GET /healthz``, ``/readyz``, ``/v1/model``; docs at ``/docs``.

Built to sit behind a moderation pipeline, so it protects itself before it helps:

* the model loads in a background thread: ``/healthz`` answers at once, ``/readyz`` is 503 until ready;
* scoring runs in a small thread pool, never on the event loop; at most ``max_concurrency`` requests
  score at once and ``max_queue`` wait; beyond that a request gets 503 + ``Retry-After`` at once rather
  than an unbounded queue (a timed-out request keeps its slot until its scoring thread really ends);
* limits: body bytes (413), texts per request and characters per text (422), request time (504);
* optional API key (``GHOSTSCORE_API_KEY``; ``Authorization: Bearer`` or ``X-API-Key``);
* one JSON log line per request (method, path, status, duration, n_texts, chars), never the text.

Errors always have the shape ``{"error": {"code": ..., "message": ...}}``. Settings come from
``ServerSettings`` or ``GHOSTSCORE_*`` environment variables (see ``ServerSettings.from_env``).
A teammate's ``ghostscore.report.web.add_routes(app, get_detector)`` adds ``GET /`` and ``/report``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .apidocs import add_docs
from .auth import header_key, key_matches
from .errors import InputError

log = logging.getLogger("ghostscore.server")
WARMUP_TEXT = " ".join(
    ["The town council met on Monday to discuss the budget for the coming year.",
     "Several residents asked about repairs to the old bridge, which has been closed since the spring.",
     "The mayor said the work would start in the autumn and should be finished before the winter.",
     "A local teacher raised concerns about the cost of school transport for families in the villages."] * 2
)


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class ServerSettings:
    """Limits and switches; every field can be set by ``GHOSTSCORE_<FIELD NAME IN CAPITALS>``."""

    max_body_bytes: int = 8 * 1024 * 1024  # the report page accepts 8 MiB HTML uploads
    max_texts: int = 64
    max_chars: int = 200_000
    request_timeout_s: float = 60.0
    max_concurrency: int = 2
    max_queue: int = 16
    retry_after_s: int = 2
    api_key: str | None = None
    open_paths: tuple[str, ...] = ("/healthz", "/readyz")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ServerSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"GHOSTSCORE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            if f.name == "open_paths":
                values[f.name] = tuple(p.strip() for p in raw.split(",") if p.strip())
            elif f.name == "api_key":
                values[f.name] = raw
            else:
                kind = float if f.name.endswith("_s") and f.name != "retry_after_s" else int
                try:
                    values[f.name] = kind(raw)
                except ValueError as exc:
                    raise ValueError(f"GHOSTSCORE_{f.name.upper()}={raw!r} is not a number") from exc
        return replace(cls(**values), **overrides)


# ------------------------------------------------------------------ errors and request model
class ApiError(Exception):
    """An error with an HTTP status and a stable code; rendered as ``{"error": {...}}``."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, headers, extra


def _error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                    **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status,
                        headers=headers)


class ScoreRequest(BaseModel):
    """Exactly one of ``text`` or ``texts``."""

    text: str | None = Field(None, description="One article.")
    texts: list[str] | None = Field(None, description="Several articles, scored in one batch.")
    fpr: float | None = Field(None, gt=0, lt=1, description="False-positive rate for the 'ai' verdict.")
    format: Literal["text", "markdown", "html"] | None = Field(None, description="Default: guessed.")
    detail: bool = Field(False, description="Also return per-feature contributions and sentence scores.")
    explain: bool = Field(True, description="Evidence from every extractor, including MiniLM restatements "
                          "(~0.1 CPU-s per text); false: only the model's own extractors and the cheap bio/"
                          "phrasing evidence, several times faster. The probability does not change.")


# ------------------------------------------------------------------ admission control
class Admission:
    """Bounded concurrency + bounded waiting room, on the event loop (so no lock is needed)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.pool = cf.ThreadPoolExecutor(max(1, settings.max_concurrency), thread_name_prefix="ghostscore")
        self.sem: asyncio.Semaphore | None = None
        self.held = 0  # requests running or waiting (including timed-out work still running)

    async def run(self, fn: Callable[[], Any], deadline: float) -> Any:
        s = self.settings
        if self.sem is None:
            self.sem = asyncio.Semaphore(max(1, s.max_concurrency))
        if self.held >= max(1, s.max_concurrency) + max(0, s.max_queue):
            raise ApiError(503, "overloaded", "too many requests in flight; retry later",
                           headers={"Retry-After": str(s.retry_after_s)})
        self.held += 1
        loop = asyncio.get_running_loop()
        sem = self.sem
        try:
            await asyncio.wait_for(sem.acquire(), max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            self.held -= 1
            raise ApiError(504, "timeout", "timed out waiting for a free scorer") from None
        except BaseException:  # cancelled (client gone, shutdown): give the place back
            self.held -= 1
            raise

        def release(_: Any) -> None:
            def _release() -> None:
                sem.release()
                self.held -= 1

            try:
                loop.call_soon_threadsafe(_release)
            except RuntimeError:  # the loop is gone (shutdown): nothing left to release
                pass

        fut = self.pool.submit(fn)
        fut.add_done_callback(release)  # the slot is freed when the work ends, not when we stop waiting
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            raise ApiError(504, "timeout", f"scoring took longer than {s.request_timeout_s:g} s") from None


# ------------------------------------------------------------------ state
class ServiceState:
    """The detector (once loaded), why it failed to load, and the admission controller."""

    def __init__(self, settings: ServerSettings, detector: Any, model: str | None, use_lm: bool) -> None:
        self.settings = settings
        self.detector = detector
        self.model = model
        self.use_lm = use_lm
        self.load_error: str | None = None
        self.admission = Admission(settings)
        self._thread: threading.Thread | None = None

    def start_loading(self) -> None:
        if self.detector is not None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._load, name="ghostscore-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            from .detector import Detector

            detector = Detector.load(self.model, use_lm=self.use_lm, max_chars=self.settings.max_chars)
            # heavy models load lazily on first use: pay that here, so "ready" means fast answers
            list(detector.score_records([WARMUP_TEXT]))
            self.detector = detector
            log.info(json.dumps({"event": "model_loaded", "model": getattr(self.detector.model, "name", ""),
                                 "seconds": round(time.perf_counter() - t0, 3)}))
        except Exception as exc:  # noqa: BLE001 - reported by /readyz and every scoring request
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error(json.dumps({"event": "model_load_failed", "error": self.load_error}))

    def get_detector(self) -> Any:
        """The loaded detector, or a 503 ApiError while it is loading (or failed to load)."""
        if self.detector is None:
            if self.load_error:
                raise ApiError(503, "model_unavailable", f"the model failed to load: {self.load_error}")
            raise ApiError(503, "not_ready", "the model is still loading",
                           headers={"Retry-After": str(self.settings.retry_after_s)})
        return self.detector


# ------------------------------------------------------------------ middleware (pure ASGI)
class _BodyTooLarge(StarletteHTTPException):
    """Raised while reading the body; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit:,} bytes")


class GuardMiddleware:
    """Logs every request as one JSON line, checks the API key and caps the body size."""

    def __init__(self, app: Any, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500, "sent": False}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            rejection = self._check(scope)
            if rejection is not None:
                await rejection(scope, receive, send_wrapper)
                return
            limit = self.settings.max_body_bytes
            seen = 0

            async def receive_limited() -> dict[str, Any]:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        raise _BodyTooLarge(limit)
                return message

            try:
                await self.app(scope, receive_limited, send_wrapper)
            except _BodyTooLarge:
                if status["sent"]:
                    raise
                await self._too_large()(scope, receive, send_wrapper)
        finally:
            self._log(scope, status["code"], started)

    def _too_large(self) -> JSONResponse:
        return _error_response(413, "body_too_large",
                               f"request body is larger than {self.settings.max_body_bytes:,} bytes")

    def _check(self, scope: dict[str, Any]) -> JSONResponse | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        key = self.settings.api_key
        # the browser page and its form post check the key themselves (a form cannot send a header)
        page = (scope["path"], scope.get("method")) in {("/", "GET"), ("/report", "POST")}
        if key and scope["path"] not in self.settings.open_paths and not page:
            if not key_matches(header_key(headers), key):
                return _error_response(401, "unauthorized", "missing or wrong API key (Authorization: Bearer "
                                       "<key> or X-API-Key: <key>)", headers={"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length")
        if length is not None:
            try:
                too_large = int(length) > self.settings.max_body_bytes
            except ValueError:
                return _error_response(400, "bad_request", "Content-Length is not a number")
            if too_large:
                return self._too_large()
        return None

    def _log(self, scope: dict[str, Any], status: int, started: float) -> None:
        state = scope.get("state") or {}
        record = {
            "event": "request", "method": scope.get("method"), "path": scope.get("path"), "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "n_texts": state.get("n_texts"), "chars": state.get("chars"),
            "request_id": state.get("request_id"),
        }
        log.info(json.dumps(record))


# ------------------------------------------------------------------ app
def _score_payload(score: Any, *, detail: bool, op: Any, fpr: float | None) -> dict[str, Any]:
    d = score.to_dict()
    if fpr is not None and op is not None:  # per-request operating point, without touching the detector
        band = op.band(fpr)
        d["uncertain_band"] = list(band)
        d["threshold"] = band[1]
        if d["ai_probability"] is not None:
            d["verdict"] = op.verdict(d["ai_probability"], fpr)
    if not detail:
        d.pop("contributions", None)
        d.pop("sentence_scores", None)
    return d


def _input_error_payload(exc: InputError, index: int | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if index is not None:
        err["index"] = index
    return {"error": err}


def create_app(
    detector: Any = None, *, model: str | None = None, use_lm: bool = True,
    settings: ServerSettings | None = None,
) -> Any:
    """The FastAPI app. Pass a ready ``detector`` (tests, embedding) or let it load ``model`` at startup."""
    from . import __version__

    settings = settings or ServerSettings.from_env()
    state = ServiceState(settings, detector, model, use_lm)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        state.start_loading()
        yield
        state.admission.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="ghostscore", version=__version__, lifespan=lifespan,
        description="Scores articles for likely machine generation, with the evidence.",
        docs_url=None, redoc_url=None,  # FastAPI's own pages load Swagger UI / ReDoc from a CDN
    )
    app.state.ghostscore = state
    add_docs(app, "/docs")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return _error_response(exc.status_code, codes.get(exc.status_code, f"http_{exc.status_code}"),
                               str(exc.detail), dict(exc.headers or {}) or None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        for e in errors:
            if e.get("type") == "json_invalid":
                why = (e.get("ctx") or {}).get("error", "")
                return _error_response(400, "invalid_json", f"request body is not valid JSON: {why}".rstrip(": "))
        parts = []
        for e in errors[:5]:  # the submitted input is never echoed back (it may be a whole article)
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
        return _error_response(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # type and frames only: exception messages can quote the input
        log.error(json.dumps({"event": "error", "path": request.url.path, "error_type": type(exc).__name__,
                              "traceback": "".join(traceback.format_tb(exc.__traceback__))}))
        return _error_response(500, "internal", "internal error while scoring")

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is alive (says nothing about the model)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """200 once the model is loaded; 503 while loading or after a failed load."""
        if state.detector is not None:
            return JSONResponse({"status": "ready", "model": getattr(state.detector.model, "name", "")})
        if state.load_error:
            return JSONResponse({"status": "failed", "error": state.load_error}, status_code=503)
        return JSONResponse({"status": "loading"}, status_code=503,
                            headers={"Retry-After": str(settings.retry_after_s)})

    @app.get("/v1/model", tags=["scoring"])
    async def model_info() -> dict[str, Any]:
        """Name, version, metrics and operating point of the loaded model."""
        det = state.get_detector()
        m = det.model
        op = getattr(m, "operating_point", None)
        point = None
        if op is not None:
            fpr = det.fpr if det.fpr is not None else op.fpr
            lo, hi = op.band(fpr)
            point = {"fpr": fpr, "threshold": hi, "uncertain_from": lo}
        meta = getattr(m, "meta", {}) or {}
        return {
            "name": getattr(m, "name", ""), "type": getattr(m, "type", ""),
            "version": meta.get("version"), "ghostscore_version": __version__,
            "extractors": list(getattr(m, "extractors", [])),
            "n_features": len(getattr(m, "feature_names", [])),
            "metrics": getattr(m, "metrics", {}), "operating_point": point,
            "limits": {"max_texts": settings.max_texts, "max_chars": settings.max_chars,
                       "max_body_bytes": settings.max_body_bytes},
        }

    @app.post("/v1/score", tags=["scoring"])
    async def score(body: ScoreRequest, request: Request) -> JSONResponse:
        """Score ``text`` (returns one Score) or ``texts`` (returns ``{"results": [...]}`` in order).

        Limits are checked for the whole request first (422). In a ``texts`` list, a text the detector
        refuses (empty, binary) gets ``{"error": {...}}`` in its place; a single ``text`` gets a 422.
        """
        deadline = time.monotonic() + settings.request_timeout_s
        if (body.text is None) == (body.texts is None):
            raise ApiError(422, "invalid_request", "send exactly one of 'text' or 'texts'")
        texts = [body.text] if body.text is not None else list(body.texts or [])
        request.state.n_texts = len(texts)
        request.state.chars = sum(len(t) for t in texts)
        if not texts:
            raise ApiError(422, "invalid_request", "'texts' is empty")
        if len(texts) > settings.max_texts:
            raise ApiError(422, "too_many_texts", f"{len(texts)} texts; at most {settings.max_texts} per request")
        for i, t in enumerate(texts):
            if len(t) > settings.max_chars:
                raise ApiError(422, "too_long", f"text {i} has {len(t):,} characters; the limit is "
                                                f"{settings.max_chars:,}", index=i)
        det = state.get_detector()
        op = getattr(det.model, "operating_point", None)
        if body.fpr is not None and op is None:
            raise ApiError(422, "no_operating_point", "this model has no stored operating point; omit 'fpr'")
        fmt = body.format

        def work() -> list[Any]:
            return list(det.score_records(texts, format=fmt, explain=body.explain))

        results = await state.admission.run(work, deadline)
        if body.text is not None:
            item = results[0]
            if isinstance(item, InputError):
                return JSONResponse(_input_error_payload(item), status_code=422)
            return JSONResponse(_score_payload(item, detail=body.detail, op=op, fpr=body.fpr))
        out = [
            _input_error_payload(r, i) if isinstance(r, InputError)
            else _score_payload(r, detail=body.detail, op=op, fpr=body.fpr)
            for i, r in enumerate(results)
        ]
        return JSONResponse({"results": out, "model": getattr(det.model, "name", "")})

    _add_report_routes(app, state.get_detector, api_key=settings.api_key)
    app.add_middleware(GuardMiddleware, settings=settings)
    return app


def _add_report_routes(app: Any, get_detector: Callable[[], Any], api_key: str | None = None) -> None:
    """The report engineer's ``GET /`` and ``POST /report``, when that module is present."""
    try:
        from .report.web import add_routes
    except ImportError as exc:
        if exc.name not in ("ghostscore.report", "ghostscore.report.web"):
            log.error(json.dumps({"event": "report_routes_unavailable", "error": f"{type(exc).__name__}: {exc}"}))
        return
    add_routes(app, get_detector, api_key=api_key)


# ------------------------------------------------------------------ running
class JsonFormatter(logging.Formatter):
    """Messages that are already JSON pass through; others (uvicorn's) are wrapped in one."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("{"):
            try:
                payload = json.loads(msg)
            except ValueError:
                payload = {"message": msg}
        else:
            payload = {"message": msg}
        payload = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                   **payload}
        return json.dumps(payload)


def log_config() -> dict[str, Any]:
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "loggers": {
            "ghostscore": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def serve(host: str = "127.0.0.1", port: int = 8000, model: str | None = None, use_lm: bool = True) -> None:
    """Run the service with uvicorn (JSON logs on stderr; the model loads in the background)."""
    import uvicorn

    app = create_app(model=model, use_lm=use_lm)
    uvicorn.run(app, host=host, port=port, log_config=log_config(), access_log=False,
                timeout_graceful_shutdown=10)
