"""Command-line interface: a thin shell over Detector and the batch, server, report and training modules.

Exit codes: 0 scored (whatever the verdict), 2 bad input or usage, 3 model problem.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from .errors import InputError, ModelError

EXIT_INPUT = 2
EXIT_MODEL = 3

app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="ghostscore: scores articles for likely machine generation, with the evidence.",
)
err = Console(stderr=True)


# The labeled-data options train, calibrate and evaluate share (one definition, the same help everywhere).
LABEL_FIELD = typer.Option("label", help="Label column.")
POSITIVE = typer.Option("machine", help="Label value meaning machine-written.")
NEGATIVE = typer.Option("human", help="Label value meaning human-written.")
TEXT_FIELD = typer.Option("text", help="Text column.")


def _csv_list(value: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; None or empty -> ``[]``."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _fail(code: int, message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@contextmanager
def _exit_on_error() -> Iterator[None]:
    """Bad input and model problems end a command with a one-line message and their exit code, not a traceback."""
    try:
        yield
    except InputError as exc:
        _fail(EXIT_INPUT, exc.message)
    except ModelError as exc:
        _fail(EXIT_MODEL, str(exc))


def read_input(path: str, *, encoding: str | None, fmt: str | None, max_chars: int):
    """PATH or '-' (stdin) -> Document, with clear errors for missing, empty, binary or huge input."""
    from .document import Document

    if path == "-":
        data = sys.stdin.buffer.read(max_chars * 40 + 1)
        return Document.from_bytes(data, format=fmt, encoding=encoding, max_chars=max_chars)
    return Document.from_path(Path(path), format=fmt, encoding=encoding, max_chars=max_chars)


@app.command()
def score(
    path: str = typer.Argument(..., help="File to score (.txt, .md, .html) or '-' for standard input."),
    json_out: bool = typer.Option(False, "--json", help="Print the whole Score as JSON."),
    model: str = typer.Option(None, help="Packaged model name or model directory (default: shipped)."),
    no_lm: bool = typer.Option(False, "--no-lm", help="Skip the language model (fast features-only model)."),
    fpr: float = typer.Option(None, help="Operating point: false-positive rate for the 'ai' verdict."),
    domain: str = typer.Option(None, help="The texts' domain when you know it (e.g. news): its 'ai' threshold "
                               "instead of the guessed domain's."),
    fmt: str = typer.Option(None, "--format", help="text, markdown or html (default: guessed)."),
    encoding: str = typer.Option(None, help="Input encoding (default: UTF-8, UTF-16 with a BOM)."),
    max_chars: int = typer.Option(200_000, help="Refuse texts longer than this."),
    evidence: int = typer.Option(6, help="How many evidence items to print."),
) -> None:
    """Score one article and print the verdict with its top evidence."""
    from .detector import Detector

    with _exit_on_error():
        doc = read_input(path, encoding=encoding, fmt=fmt, max_chars=max_chars)
        detector = Detector.load(model, use_lm=not no_lm, fpr=fpr, max_chars=max_chars, domain=domain)
        result = detector.score(doc)
    if json_out:
        typer.echo(result.to_json(indent=1))
        return
    from .report.terminal import print_score

    print_score(result, doc, Console(), n_evidence=evidence)


@app.command()
def batch(
    input: Path = typer.Argument(..., help="JSONL, CSV or Parquet file of records (or a folder: --engine ray)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write one result per input record."),
    text_field: str = typer.Option("text", help="Column holding the text."),
    id_field: str = typer.Option("id", help="Column carried through as the record id, if present."),
    model: str = typer.Option(None, help="Packaged model name or model directory."),
    no_lm: bool = typer.Option(False, "--no-lm", help="Skip the language model (fast features-only model)."),
    fpr: float = typer.Option(None, help="Operating point: false-positive rate for the 'ai' verdict."),
    domain: str = typer.Option(None, help="The texts' domain when you know it (e.g. news): its 'ai' threshold "
                               "instead of the guessed domain's."),
    batch_size: int = typer.Option(16, help="Documents per model batch."),
    chunk_size: int = typer.Option(256, help="Records read and written per chunk (bounds memory)."),
    workers: int = typer.Option(1, help="Worker processes."),
    resume: bool = typer.Option(False, help="Continue an interrupted run from its output file."),
    max_chars: int = typer.Option(200_000, help="Records with longer texts get an error, not a score."),
    progress: bool = typer.Option(None, help="Progress bar (default: when stderr is a terminal)."),
    explain: bool = typer.Option(False, help="Also find restated claims when the model does not need them."),
    engine: str = typer.Option("local", help="local, or ray: score on a Ray cluster into an OUTPUT folder."),
    address: str = typer.Option(None, help="Ray cluster address, e.g. auto (--engine ray; default: start one)."),
    actors: int = typer.Option(None, help="Ray actors, one Detector each (--engine ray; default: one per CPU)."),
) -> None:
    """Score every record of a file; never stops on a bad record and never drops one."""
    from .batch import BatchOptions, run_batch

    if engine not in ("local", "ray"):
        _fail(EXIT_INPUT, f"--engine must be local or ray, not {engine!r}")
    with _exit_on_error():
        opts = BatchOptions(
            input=input, output=output, text_field=text_field, id_field=id_field, model=model,
            use_lm=not no_lm, fpr=fpr, domain=domain, batch_size=batch_size, chunk_size=chunk_size, workers=workers,
            resume=resume, max_chars=max_chars, explain=explain,
            progress=sys.stderr.isatty() if progress is None else progress,
        )
        if engine == "ray":
            from .distributed import run_ray_batch

            summary = run_ray_batch(opts, address=address, actors=actors)
        else:
            summary = run_batch(opts)
    err.print(summary.describe())


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port."),
    model: str = typer.Option(None, help="Packaged model name or model directory."),
    no_lm: bool = typer.Option(False, "--no-lm", help="Serve the fast features-only model."),
) -> None:
    """Run the HTTP service (POST /v1/score, GET /healthz, /readyz, /v1/model, page at /)."""
    from .service import serve as run_server

    run_server(host=host, port=port, model=model, use_lm=not no_lm)


@app.command()
def report(
    path: str = typer.Argument(..., help="File to report on, or '-' for standard input."),
    html: Path = typer.Option(..., "--html", help="Where to write the self-contained HTML report."),
    open_browser: bool = typer.Option(False, "--open", help="Open the report in a browser."),
    model: str = typer.Option(None, help="Packaged model name or model directory."),
    no_lm: bool = typer.Option(False, "--no-lm", help="Skip the language model."),
    fmt: str = typer.Option(None, "--format", help="text, markdown or html (default: guessed)."),
    encoding: str = typer.Option(None, help="Input encoding."),
) -> None:
    """Write an HTML report that highlights the evidence."""
    from .detector import Detector
    from .report import model_context, write_report

    with _exit_on_error():
        doc = read_input(path, encoding=encoding, fmt=fmt, max_chars=200_000)
        detector = Detector.load(model, use_lm=not no_lm)
        result = detector.score(doc)
    write_report(result, doc, html, **model_context(detector.model))
    err.print(f"report written to {html}")
    if open_browser:
        import webbrowser

        webbrowser.open(html.resolve().as_uri())


@app.command()
def train(
    data: list[Path] = typer.Option(..., "--data", help="Labeled data file(s) or directories."),
    out: Path = typer.Option(..., "--out", help="Directory for the trained model."),
    kind: str = typer.Option(
        "linear", help="linear, fused, or (with --features-table) linear-evidence, sequence, sequence-joint, "
        "hidden, hidden-evidence."),
    features_table: Path = typer.Option(
        None, "--features-table", help="Train from a stored LM feature table (data/features/...): no LM pass; "
        "--data gives the texts for the hand features."),
    lm_budget: int = typer.Option(None, help="With --features-table: LM features from the first N tokens "
                                  "(at most the table's budget); the model remembers it for scoring."),
    keep_machine_touched_humans: bool = typer.Option(
        False, "--keep-machine-touched-humans", help="With --features-table: train and calibrate on human-labelled "
        "texts a machine polished, back-translated or mixed too (left out by default; see the model card)."),
    calibration_held_out: str = typer.Option(
        "source", help="With --features-table: calibration scores come from models that never saw the text's "
        "'source' (dataset: thresholds for a site no model saw) or only its 'group' (unseen texts of seen sources)."),
    label_field: str = LABEL_FIELD,
    positive: str = POSITIVE,
    negative: str = NEGATIVE,
    text_field: str = TEXT_FIELD,
    no_lm: bool = typer.Option(False, "--no-lm", help="Train without language-model features."),
    extractors: str = typer.Option(None, help="Comma-separated extractors feeding the model (default: all)."),
    max_per_stratum: int = typer.Option(None, help="Subsample cap per stratum (source x generator x label)."),
    human_factor: float = typer.Option(5.0, help="Human strata get this many times the cap."),
    seed: int = typer.Option(0, help="Random seed."),
    cache_dir: Path = typer.Option(None, help="Feature cache directory."),
    sign_consistent: str = typer.Option(
        None, help="Comma-separated feature families (e.g. lm) whose features are kept only if they point "
        "the same way for every instruction-tuned training generator (needs a generator column)."),
    generator_factor: list[str] = typer.Option(
        None, help="NAME=FACTOR: this generator's strata get FACTOR x the cap (repeatable)."),
) -> None:
    """Train a model on any labeled dataset (CSV, JSONL, Parquet or a datasets directory)."""
    from .training.config import TrainConfig, parse_generator_factors
    from .training.train import train_model

    with _exit_on_error():
        factors = parse_generator_factors(generator_factor or [])
        path = train_model(
            TrainConfig(
                data=[str(p) for p in data], out=str(out), kind=kind, label_field=label_field,
                positive=positive, negative=negative, text_field=text_field, use_lm=not no_lm,
                max_per_stratum=max_per_stratum, human_factor=human_factor, seed=seed,
                extractors=_csv_list(extractors),
                cache_dir=str(cache_dir) if cache_dir else None,
                sign_consistent=_csv_list(sign_consistent),
                generator_factors=factors,
                features_table=str(features_table) if features_table else None, lm_budget=lm_budget,
                machine_touched_humans="keep" if keep_machine_touched_humans else "leave-out",
                calibration_held_out=calibration_held_out,
            )
        )
    err.print(f"model written to {path}")


@app.command()
def calibrate(
    data: list[Path] = typer.Option(..., "--data", help="Your labeled texts (both labels, or human only)."),
    out: Path = typer.Option(..., "--out", help="Directory for the recalibrated copy of the model."),
    model: str = typer.Option(None, "--model", help="Model directory or packaged name (default: default)."),
    split: str = typer.Option(None, help="Only rows with this split value."),
    fpr: float = typer.Option(0.01, help="False-positive rate for the 'ai' verdict."),
    label_field: str = LABEL_FIELD,
    positive: str = POSITIVE,
    negative: str = NEGATIVE,
    text_field: str = TEXT_FIELD,
    no_lm: bool = typer.Option(False, "--no-lm", help="Recalibrate the features-only model."),
    max_per_stratum: int = typer.Option(None, help="Subsample cap per stratum (as in training)."),
    cache_dir: Path = typer.Option(None, help="Feature cache directory."),
) -> None:
    """Refit a model's calibration and threshold on your own texts (e.g. a domain the corpus lacks)."""
    from .training.recalibrate import RecalibrateConfig, recalibrate

    with _exit_on_error():
        path = recalibrate(RecalibrateConfig(
            model=model, data=[str(p) for p in data], out=str(out), split=split, fpr=fpr,
            label_field=label_field, positive=positive, negative=negative, text_field=text_field,
            use_lm=not no_lm, cache_dir=str(cache_dir) if cache_dir else None, max_per_stratum=max_per_stratum,
        ))
    err.print(f"recalibrated model written to {path}")


@app.command()
def evaluate(
    data: list[Path] = typer.Option(..., "--data", help="Labeled data file(s)."),
    model: str = typer.Option(None, "--model", help="Model directory or packaged name."),
    out: Path = typer.Option(Path("runs/eval"), "--out", help="Directory for metrics.json and plots."),
    split: str = typer.Option(None, help="Only rows with this split value (e.g. test)."),
    label_field: str = LABEL_FIELD,
    positive: str = POSITIVE,
    negative: str = NEGATIVE,
    text_field: str = TEXT_FIELD,
    no_lm: bool = typer.Option(False, "--no-lm", help="Use the features-only model."),
    max_per_stratum: int = typer.Option(None, help="Subsample cap per stratum."),
    human_factor: float = typer.Option(1.0, help="With a cap: human strata get this many times the cap."),
    base_model_factor: float = typer.Option(1.0, help="With a cap: base-model generators get this many times it."),
    cache_dir: Path = typer.Option(None, help="Feature cache directory."),
) -> None:
    """Evaluate a model: AUROC, TPR at 1%/5% FPR, ECE, per-group tables, ROC/calibration plots."""
    from .training.evaluate import EvalConfig, evaluate_model

    with _exit_on_error():
        metrics = evaluate_model(
            EvalConfig(
                data=[str(p) for p in data], model=model, out=str(out), split=split,
                label_field=label_field, positive=positive, negative=negative, text_field=text_field,
                use_lm=not no_lm, max_per_stratum=max_per_stratum, human_factor=human_factor,
                base_model_factor=base_model_factor, cache_dir=str(cache_dir) if cache_dir else None,
            )
        )
    err.print(f"AUROC {metrics['overall']['auroc']:.4f}; metrics and plots in {out}")


@app.command()
def bench(
    tokens: int = typer.Option(20_000, help="Tokens to score per backend."),
    backends: str = typer.Option("auto,torch", help="Comma-separated LM backends to compare."),
) -> None:
    """Language-model speed: tokens/s, mean log-prob and peak RSS for each backend, side by side."""
    from .training.lm_bench import run_bench

    run_bench(tokens=tokens, backends=_csv_list(backends))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
