"""The notebooks under notebooks/ run top to bottom and show what they promise.

Each notebook runs in a fresh python3 Jupyter kernel at LAYERWISE_NOTEBOOK_SCALE=tiny (seconds
each), in a temporary directory; any cell error fails the test. What runs must show the course's
(or the report's) figures beside ours in a table, and a plot where the notebook promises one.
The committed notebooks are checked too: their cells are what scripts/make_notebooks.py writes,
they were run (outputs kept, no errors), and docs/hooks.py finds one per lab.

The report's notebook starts two ranks (`layerwise launch`), so its run is `multiprocess`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RANKS = {"report-rbm"}  # notebooks that start processes of their own


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = _load("make_notebooks", ROOT / "scripts" / "make_notebooks.py")


def _outputs(nb) -> list[tuple[str, str]]:
    """(kind, text) of every output: stream and error text, Markdown, 'image' for a PNG."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                found.append(("stream", out["text"]))
            elif out["output_type"] == "error":
                found.append(("error", f"{out['ename']}: {out['evalue']}"))
            else:
                data = out.get("data", {})
                if "image/png" in data:
                    found.append(("image", ""))
                if "text/markdown" in data:
                    found.append(("markdown", data["text/markdown"]))
    return found


def _check_shows_what_it_promises(name: str, nb) -> None:
    outputs = _outputs(nb)
    errors = [text for kind, text in outputs if kind == "error"]
    assert not errors, f"{name}: {errors}"
    tables = [text for kind, text in outputs if kind == "markdown"
              and text.startswith("|") and ("course" in text or "report" in text)]
    assert tables, f"{name} shows no table beside the course's (or the report's) figures"
    if name in generator.PLOTS:
        assert any(kind == "image" for kind, _ in outputs), f"{name} promises a plot, shows none"


def test_one_notebook_per_lab_where_the_docs_look():
    hooks = _load("docs_hooks", ROOT / "docs" / "hooks.py")
    for lab in range(1, 10):
        line = hooks.notebook(str(lab))
        assert line.startswith("Notebook: `notebooks/lab") and line.count(".ipynb") == 1, line
    assert (NOTEBOOKS / "report-rbm.ipynb").is_file()


def test_committed_notebooks_are_what_the_generator_writes():
    nbformat = pytest.importorskip("nbformat")
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(generator.NOTEBOOKS)
    for name in generator.NOTEBOOKS:
        committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        written = generator.build(name)
        assert [(c.cell_type, c.source) for c in committed.cells] == \
            [(c.cell_type, c.source) for c in written.cells], \
            f"notebooks/{name}.ipynb differs from scripts/make_notebooks.py: run it with --execute"


def test_committed_notebooks_were_run_and_kept_their_outputs():
    nbformat = pytest.importorskip("nbformat")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        assert first.cell_type == "markdown" and first.source.startswith("# "), path.name
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert generator.SCALE_VARIABLE in code[0].source, path.name
        assert all(c.execution_count is not None for c in code), f"{path.name} was not run"
        _check_shows_what_it_promises(path.stem, nb)


def _kernel_or_skip() -> None:
    pytest.importorskip("nbclient", reason="needs nbclient (pip install -e '.[test]')")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no python3 Jupyter kernel: pip install ipykernel (in the test extra)")


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.multiprocess] if name in RANKS else [])
    for name in generator.NOTEBOOKS])
def test_notebook_runs_at_tiny_scale(name, tmp_path, monkeypatch):
    _kernel_or_skip()
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv(generator.SCALE_VARIABLE, "tiny")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNGs
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    _check_shows_what_it_promises(name, nb)
    assert not [p.name for p in tmp_path.iterdir() if p.name != "cache"], \
        "the notebook left files in its working directory"
