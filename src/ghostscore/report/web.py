"""Web page for the HTML report: ``GET /`` (paste or upload) and ``POST /report`` (the report itself).

``add_routes(app, get_detector)`` is called by ``server.create_app``. The page is a plain HTML form that
works without JavaScript. ``POST /report`` takes ``multipart/form-data``,
``application/x-www-form-urlencoded`` or JSON (``{"text": ..., "format": ...}``) and answers with the
same self-contained report as ``ghostscore report``. Form bodies are parsed with the standard library
(no python-multipart needed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from html import escape
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from ..auth import header_key, key_matches
from ..document import sniff_format
from ..errors import InputError
from .html import model_context, render_html

MAX_BODY_BYTES = 8 * 1024 * 1024  # HTML pages may be large; Document enforces its own text limit
FORMATS = ("auto", "text", "markdown", "html")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"

_PAGE_CSS = """
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1a1a1a; background: #f4f4f1; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
form, .box { background: #fff; border: 1px solid #d8d8d2; border-radius: 6px; padding: 1rem 1.25rem; }
label { display: block; font-weight: 600; margin: 0.9rem 0 0.3rem; }
textarea { width: 100%; min-height: 18rem; font: 15px/1.5 Georgia, serif; padding: 0.5rem;
  box-sizing: border-box; }
input, select, textarea { border: 1px solid #777; border-radius: 4px; }
button { margin-top: 1rem; font: 600 1rem system-ui, sans-serif; padding: 0.55rem 1.3rem; color: #fff;
  background: #0072B2; border: 0; border-radius: 4px; cursor: pointer; }
:focus-visible { outline: 3px solid #000; outline-offset: 2px; box-shadow: 0 0 0 6px #F0E442; }
.hint { color: #555; font-size: 0.9rem; margin: 0.2rem 0; }
.error { border-left: 8px solid #D55E00; }
"""


def add_routes(app: FastAPI, get_detector: Callable[[], Any], api_key: str | None = None) -> None:
    """Register ``GET /`` and ``POST /report``. ``get_detector()`` returns the loaded Detector or raises.

    With ``api_key`` set the form asks for the key and ``POST /report`` checks it (a browser form cannot
    send an ``Authorization`` header); the service's middleware lets these two paths through to here.
    """
    form = _FORM.replace("<!--KEY-->", _KEY_FIELD if api_key else "")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def report_page() -> HTMLResponse:
        return _page(200, "ghostscore", form)

    @app.post("/report", response_class=HTMLResponse)
    async def report(request: Request) -> HTMLResponse:
        """Score pasted or uploaded text and return the HTML report."""
        try:
            body = await _read_body(request)
            text, data, fmt, key = _parse(request.headers.get("content-type", ""), body)
        except _BadRequest as exc:
            return _error(exc.status, exc.message)
        if api_key and not (key_matches(header_key(request.headers), api_key) or key_matches(key, api_key)):
            return _error(401, "Missing or wrong API key.")
        if fmt not in FORMATS:
            return _error(400, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        if data is None and not (text and text.strip()):
            return _error(400, "Paste some text or choose a file.")
        try:
            detector = get_detector()
        except Exception as exc:  # the server decides how a model fails to load; we just say so
            return _error(503, f"The model is not available: {exc}")
        try:
            doc, score = await run_in_threadpool(_score, detector, text, data, fmt)
        except InputError as exc:
            return _error(422, exc.message)
        ctx = model_context(getattr(detector, "model", None))
        fpr = getattr(detector, "fpr", None) or ctx.get("fpr")
        html = render_html(score, doc, feature_ranges=ctx.get("feature_ranges"), fpr=fpr,
                           human_bound=ctx.get("human_bound"))
        return HTMLResponse(html, headers=SECURITY_HEADERS)


def _score(detector: Any, text: str | None, data: bytes | None, fmt: str) -> tuple[Any, Any]:
    fmt_arg = None if fmt == "auto" else fmt
    if data is not None:
        item: str | bytes = data.replace(b"\r\n", b"\n")
    else:
        item = (text or "").replace("\r\n", "\n")  # browsers send CRLF line breaks from a textarea
        if fmt_arg is None:
            fmt_arg = sniff_format(item)
    doc = detector.preprocess(item, format=fmt_arg)
    return doc, detector.score(doc)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BadRequest(413, f"The upload is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BadRequest(413, f"The upload is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(content_type: str, body: bytes) -> tuple[str | None, bytes | None, str, str | None]:
    """(pasted text, uploaded file bytes or None, format, API key field) from a JSON, urlencoded or
    multipart body."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            payload = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _BadRequest(400, f"invalid JSON: {exc}") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("text", ""), str):
            raise _BadRequest(400, 'expected a JSON object like {"text": "...", "format": "auto"}')
        key = payload.get("api_key")
        return payload.get("text"), None, str(payload.get("format") or "auto"), key if isinstance(key, str) else None
    if ctype == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise _BadRequest(400, "form data is not UTF-8") from exc
        return ((fields.get("text") or [None])[0], None, (fields.get("format") or ["auto"])[0] or "auto",
                (fields.get("api_key") or [None])[0])
    if ctype == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if ctype.startswith("text/"):
        return body.decode("utf-8", errors="replace"), None, "auto", None
    raise _BadRequest(415, f"unsupported content type {ctype or '(none)'}; send a form or JSON")


def _parse_multipart(content_type: str, body: bytes) -> tuple[str | None, bytes | None, str, str | None]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise _BadRequest(400, "malformed multipart form")
    text: str | None = None
    data: bytes | None = None
    fmt = "auto"
    key: str | None = None
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file" and part.get_filename() is not None:
            if payload:
                data = payload
        elif name == "text":
            text = payload.decode("utf-8", errors="replace")
        elif name == "format":
            fmt = payload.decode("utf-8", errors="replace").strip() or "auto"
        elif name == "api_key":
            key = payload.decode("utf-8", errors="replace").strip()
    return text, data, fmt, key


def _error(status: int, message: str) -> HTMLResponse:
    body = (
        f'<div class="box error" role="alert"><h1>Could not make a report</h1><p>{escape(message)}</p>'
        '<p><a href="./">Back to the form</a></p></div>'
    )
    return _page(status, "ghostscore: error", body)


def _page(status: int, title: str, body: str) -> HTMLResponse:
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_PAGE_CSS}</style></head><body><main>{body}</main></body></html>"
    )
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": PAGE_CSP}
    return HTMLResponse(html, status_code=status, headers=headers)


_FORM = """
<h1>ghostscore</h1>
<p>Paste an article or upload a file to see how machine-like it reads, and why. The report marks the
passages behind the score; it is evidence for a person to weigh, not proof.</p>
<form method="post" action="report" enctype="multipart/form-data">
  <label for="text">Article text</label>
  <textarea id="text" name="text" placeholder="Paste the article here"></textarea>
  <label for="file">Or upload a file</label>
  <input id="file" name="file" type="file"
    accept=".txt,.md,.markdown,.html,.htm,text/plain,text/markdown,text/html">
  <p class="hint">Plain text, Markdown or HTML (the article is extracted from a page). A file wins over pasted
  text.</p>
  <label for="format">Format</label>
  <select id="format" name="format">
    <option value="auto" selected>Guess</option>
    <option value="text">Plain text</option>
    <option value="markdown">Markdown</option>
    <option value="html">HTML page</option>
  </select>
<!--KEY-->
  <div><button type="submit">Make the report</button></div>
</form>
"""

_KEY_FIELD = """  <label for="api_key">API key</label>
  <input id="api_key" name="api_key" type="password" autocomplete="current-password" required>
  <p class="hint">This service needs its API key.</p>
"""
