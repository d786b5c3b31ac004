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

import json
import logging
import time
import traceback
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import InputError, ModelError
from .admission import ApiError, ScoreRequest, ServiceState, _error_response
from .docs import add_docs
from .middleware import GuardMiddleware
from .settings import ServerSettings

log = logging.getLogger("ghostscore.server")


# ------------------------------------------------------------------ app
def _score_payload(score: Any, *, detail: bool) -> dict[str, Any]:
    d = score.to_dict()
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
    from importlib.metadata import version as _pkg_version

    __version__ = _pkg_version("ghostscore")

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
            return JSONResponse({"status": "ready", "model": state.detector.model.name})
        if state.load_error:
            return JSONResponse({"status": "failed", "error": state.load_error}, status_code=503)
        return JSONResponse({"status": "loading"}, status_code=503,
                            headers={"Retry-After": str(settings.retry_after_s)})

    @app.get("/v1/model", tags=["scoring"])
    async def model_info() -> dict[str, Any]:
        """Name, version, metrics and operating point of the loaded model."""
        det = state.get_detector()
        m = det.model
        op = m.operating_point
        point = None
        if op is not None:
            fpr = det.fpr if det.fpr is not None else op.fpr
            lo, hi = op.band(fpr)
            point = {"fpr": fpr, "threshold": hi, "uncertain_from": lo,
                     # the 'ai' threshold when a request states its domain (the guard where it has none of its own)
                     "domain_thresholds": {d: op.threshold(fpr, d) for d in det.known_domains()}}
        meta = m.meta or {}
        return {
            "name": m.name, "type": m.type,
            "version": meta.get("version"), "ghostscore_version": __version__,
            "extractors": list(m.extractors),
            "n_features": len(m.feature_names),
            "metrics": m.metrics, "operating_point": point,
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
        if body.fpr is not None and det.model.operating_point is None:
            raise ApiError(422, "no_operating_point", "this model has no stored operating point; omit 'fpr'")
        try:
            det.check_domain(body.domain)
        except ModelError as exc:
            raise ApiError(422, "unknown_domain", str(exc)) from None
        fmt = body.format

        def work() -> list[Any]:
            return list(det.score_records(texts, format=fmt, explain=body.explain, fpr=body.fpr,
                                          domain=body.domain))

        results = await state.admission.run(work, deadline, texts=len(texts))
        if body.text is not None:
            item = results[0]
            if isinstance(item, InputError):
                return JSONResponse(_input_error_payload(item), status_code=422)
            return JSONResponse(_score_payload(item, detail=body.detail))
        out = [
            _input_error_payload(r, i) if isinstance(r, InputError)
            else _score_payload(r, detail=body.detail)
            for i, r in enumerate(results)
        ]
        return JSONResponse({"results": out, "model": det.model.name})

    _add_report_routes(app, state.get_detector, api_key=settings.api_key)
    app.add_middleware(GuardMiddleware, settings=settings)
    return app


def _add_report_routes(app: Any, get_detector: Callable[[], Any], api_key: str | None = None) -> None:
    """The report engineer's ``GET /`` and ``POST /report``, when that module is present."""
    try:
        from ..report.web import add_routes
    except ImportError as exc:
        if exc.name not in ("ghostscore.report", "ghostscore.report.web"):
            log.error(json.dumps({"event": "report_routes_unavailable", "error": f"{type(exc).__name__}: {exc}"}))
        return
    add_routes(app, get_detector, api_key=api_key)
