"""The notebooks run top to bottom in a clean kernel, and are committed without outputs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["01_features.ipynb", "02_evaluation.ipynb"]
KERNEL = "ghostscore-test-python"
TIME_LIMIT_S = 90  # about 60 s each on a busy two-core machine; the cap keeps a hang from blocking CI


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A kernelspec for *this* interpreter in a private JUPYTER_PATH, so no other python3 kernel
    (user-level or system-wide, without ghostscore installed) can be picked up."""
    base = tmp_path_factory.mktemp("jupyter")
    spec = base / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ghostscore tests", "language": "python",
    }))
    return {"JUPYTER_PATH": str(base)}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}: clear outputs first"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name: str, kernel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    # Defaults only: the synthetic sample, the model-free extractors and the format-sample metrics.
    for var in ("GHOSTSCORE_DATA", "GHOSTSCORE_NB_MODELS", "GHOSTSCORE_EVAL_DIR", "GHOSTSCORE_NB_SAMPLE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=TIME_LIMIT_S, startup_timeout=60,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    start = time.monotonic()
    client.execute()
    elapsed = time.monotonic() - start
    assert elapsed < TIME_LIMIT_S, f"{name} took {elapsed:.0f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = "\n".join(
        o.get("text", "") or json.dumps(o.get("data", {}))
        for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    if name == "01_features.ipynb":
        assert "SYNTHETIC sample" in text
    else:
        assert "Format sample, not results" in text
