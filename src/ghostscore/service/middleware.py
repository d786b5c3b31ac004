"""Pure-ASGI guard: body size limit, API key, request ids and one JSON log line per request (never the text)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..auth import header_key, key_matches
from .admission import _error_response
from .settings import ServerSettings

log = logging.getLogger("ghostscore.server")


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
