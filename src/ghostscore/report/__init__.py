"""The self-contained HTML report (``html.py``), its terminal counterpart (``terminal.py``) and the
paste-or-upload web page (``web.py``)."""

from .html import model_context, operating_point_text, render_html, sentence_levels, write_report

__all__ = ["model_context", "operating_point_text", "render_html", "sentence_levels", "write_report"]
