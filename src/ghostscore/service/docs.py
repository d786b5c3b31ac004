"""Interactive API docs at ``/docs`` that render with no network.

FastAPI emits OpenAPI 3.1, which only Swagger UI 5 and later can draw. The Swagger UI files come from the
installed ``fastapi-offline`` package (in the ``serve`` extra; it ships Swagger UI 5) and the app serves
them itself under ``/docs-assets``. The page's Content-Security-Policy lets the browser load scripts,
styles and data from this service only, so the docs never reach a CDN, even by mistake.

Without that package ``/docs`` is a plain server-rendered list of the operations (no script) that points
to ``openapi.json``: still offline, never a CDN.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from pathlib import Path
from typing import Any

ASSETS_URL = "/docs-assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# the fallback page has no script at all
PLAIN_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def swagger_assets() -> Path | None:
    """The folder holding Swagger UI 5's ``swagger-ui-bundle.js`` and ``swagger-ui.css``, or None."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    path = Path(fastapi_offline.__file__).parent / "static"
    return path if all((path / name).is_file() for name in ASSET_FILES) else None


def _relative(url: str, page: str) -> str:
    """``url`` (an absolute path in the app) as seen from the page at ``page``: the docs then also work
    behind a proxy that serves the app under a prefix."""
    return "../" * (page.count("/") - 1) + url.lstrip("/")


def swagger_page(openapi_url: str, title: str, page: str = "/docs") -> tuple[str, str]:
    """(HTML, Content-Security-Policy) of the Swagger UI page served at ``page``; its one inline script is
    allowed by hash."""
    options = {
        "url": _relative(openapi_url, page), "dom_id": "#swagger-ui", "layout": "BaseLayout", "deepLinking": True,
        "showExtensions": True, "showCommonExtensions": True,
        "validatorUrl": None,  # Swagger UI would otherwise send the spec to validator.swagger.io
    }
    # json.dumps escapes no "<"; make sure no "</script>" can come out of the options
    init = ("window.ui = SwaggerUIBundle(Object.assign(" + json.dumps(options).replace("<", "\\u003c")
            + ", {presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]}));")
    digest = base64.b64encode(hashlib.sha256(init.encode()).digest()).decode()
    assets = _relative(ASSETS_URL, page)
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{assets}/swagger-ui.css"></head>'
        '<body><div id="swagger-ui"></div>'
        f'<script src="{assets}/swagger-ui-bundle.js"></script>'
        f"<script>{init}</script></body></html>"
    )
    csp = (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    return html, csp


def plain_page(spec: dict[str, Any], openapi_url: str, title: str, page: str = "/docs") -> str:
    """The operations of ``spec`` as a plain HTML list: the docs when Swagger UI's files are missing."""
    items = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            if not isinstance(op, dict):  # path-level "parameters", "summary"
                continue
            summary = op.get("summary") or op.get("description", "").split("\n")[0]
            items.append(f"<li><code>{escape(method.upper())} {escape(path)}</code> {escape(summary)}</li>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>body {{ font: 16px/1.5 system-ui, sans-serif; margin: 2rem; }}"
        "</style></head><body>"
        f"<h1>{escape(title)}</h1><ul>{''.join(items)}</ul>"
        f'<p>The full description: <a href="{escape(_relative(openapi_url, page))}">OpenAPI document</a>. '
        "Interactive docs need the <code>fastapi-offline</code> package "
        "(<code>pip install 'ghostscore[serve]'</code>).</p></body></html>"
    )


def add_docs(app: Any, path: str = "/docs") -> None:
    """Serve the API docs at ``path`` (the app must be created with ``docs_url=None``)."""
    from fastapi.responses import HTMLResponse

    title = f"{app.title} API"
    openapi_url = app.openapi_url or "/openapi.json"
    assets = swagger_assets()
    if assets is not None:
        from fastapi.staticfiles import StaticFiles

        app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="docs-assets")
        html, csp = swagger_page(openapi_url, title, path)

        @app.get(path, include_in_schema=False)
        async def docs() -> HTMLResponse:
            return HTMLResponse(html, headers={**SECURITY_HEADERS, "Content-Security-Policy": csp})

        return

    @app.get(path, include_in_schema=False)
    async def docs_plain() -> HTMLResponse:
        return HTMLResponse(plain_page(app.openapi(), openapi_url, title, path),
                            headers={**SECURITY_HEADERS, "Content-Security-Policy": PLAIN_CSP})
