"""Running the service: JSON logging for ghostscore and uvicorn, and ``serve``."""

from __future__ import annotations

import json
import logging
from typing import Any

from .app import create_app

log = logging.getLogger("ghostscore.server")


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
