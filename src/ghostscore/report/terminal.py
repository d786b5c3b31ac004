"""Readable terminal output of a Score (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from ..document import Document
from ..results import Score

COLOURS = {"ai": "bold red", "human": "bold green", "uncertain": "bold yellow", "unsupported": "bold blue"}


def print_score(score: Score, doc: Document, console: Console, *, n_evidence: int = 6) -> None:
    colour = COLOURS[score.verdict]
    if score.ai_probability is None:
        head = f"[{colour}]{score.verdict.upper()}[/]: " + "; ".join(score.reasons)
    else:
        lo, hi = score.uncertain_band or (0.5, 0.5)
        head = (
            f"[{colour}]{score.verdict.upper()}[/]  P(machine) = {score.ai_probability:.3f}"
            f"   ('ai' at >= {hi:.3f}, 'uncertain' from {lo:.3f}; model {score.model})"
        )
    title = doc.title or ""
    console.print(Panel(head, title=f"ghostscore {title[:60]}", expand=False))
    items = score.top_evidence(n_evidence)
    if not items:
        console.print("No specific evidence found.")
        return
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("#", justify="right")
    table.add_column("extractor")
    table.add_column("finding", overflow="fold", max_width=60)
    table.add_column("text", overflow="fold", max_width=60)
    for i, e in enumerate(items, 1):
        snippet = e.text if len(e.text) <= 140 else e.text[:137] + "..."
        table.add_row(str(i), e.extractor, e.reason, snippet)
    console.print(table)
