"""The HTTP service: ``POST /v1/score``, ``GET /healthz``, ``/readyz``, ``/v1/model``; docs at ``/docs``.

``settings`` (environment), ``admission`` (bounded concurrency and queue, background model load),
``middleware`` (size limit, API key, JSON logs), ``app`` (routes), ``docs`` (offline Swagger UI), ``run``.
"""

from .app import create_app
from .run import serve
from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "serve"]
