"""Errors as JSON, the request model, admission control (bounded concurrency and queue, deadlines) and the
service state that loads the detector in the background."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .settings import WARMUP_TEXT, ServerSettings

log = logging.getLogger("ghostscore.server")


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
    domain: str | None = Field(None, description="The texts' domain when known (e.g. news): its threshold instead "
                               "of the guessed domain's; GET /v1/model lists them.")
    format: Literal["text", "markdown", "html"] | None = Field(None, description="Default: guessed.")
    detail: bool = Field(False, description="Also return per-feature contributions and sentence scores.")
    explain: bool = Field(True, description="Evidence from every extractor, including MiniLM restatements and "
                          "whole-text language-model highlights; false: only what the verdict needs (the "
                          "model's own extractors), about 5x faster. The probability does not change.")


# ------------------------------------------------------------------ admission control
class Admission:
    """Bounded concurrency + a waiting room bounded in requests and in expected wait, on the event loop (so
    no lock is needed). The expected wait is the texts already admitted times the measured seconds per text
    (a moving average), divided by the concurrency: a request that would wait longer than ``max_wait_s``
    gets 503 + Retry-After at once, so admitted requests keep their latency under load."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.pool = cf.ThreadPoolExecutor(max(1, settings.max_concurrency), thread_name_prefix="ghostscore")
        self.sem: asyncio.Semaphore | None = None
        self.held = 0  # requests running or waiting (including timed-out work still running)
        self.held_texts = 0
        self.s_per_text: float | None = None  # moving average of scoring seconds per text

    def expected_wait(self) -> float:
        if self.s_per_text is None or self.held < max(1, self.settings.max_concurrency):
            return 0.0
        return self.held_texts * self.s_per_text / max(1, self.settings.max_concurrency)

    async def run(self, fn: Callable[[], Any], deadline: float, texts: int = 1) -> Any:
        s = self.settings
        if self.sem is None:
            self.sem = asyncio.Semaphore(max(1, s.max_concurrency))
        if self.held >= max(1, s.max_concurrency) + max(0, s.max_queue) or (
                s.max_wait_s > 0 and self.expected_wait() > s.max_wait_s):
            raise ApiError(503, "overloaded", "too many requests in flight; retry later",
                           headers={"Retry-After": str(s.retry_after_s)})
        self.held += 1
        self.held_texts += texts
        loop = asyncio.get_running_loop()
        sem = self.sem
        try:
            await asyncio.wait_for(sem.acquire(), max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            self.held -= 1
            self.held_texts -= texts
            raise ApiError(504, "timeout", "timed out waiting for a free scorer") from None
        except BaseException:  # cancelled (client gone, shutdown): give the place back
            self.held -= 1
            self.held_texts -= texts
            raise
        started = time.monotonic()

        def release(_: Any) -> None:
            per_text = (time.monotonic() - started) / max(1, texts)

            def _release() -> None:
                sem.release()
                self.held -= 1
                self.held_texts -= texts
                a = self.s_per_text
                self.s_per_text = per_text if a is None else 0.8 * a + 0.2 * per_text

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
            from ..detector import Detector

            detector = Detector.load(self.model, use_lm=self.use_lm, max_chars=self.settings.max_chars)
            # heavy models load lazily on first use: pay that here, so "ready" means fast answers
            list(detector.score_records([WARMUP_TEXT]))
            # a second, timed pass seeds the admission's seconds-per-text, so the first burst of requests
            # is already bounded by expected wait (not only by the queue length)
            t1 = time.perf_counter()
            list(detector.score_records([WARMUP_TEXT]))
            self.admission.s_per_text = time.perf_counter() - t1
            self.detector = detector
            log.info(json.dumps({"event": "model_loaded", "model": self.detector.model.name,
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
