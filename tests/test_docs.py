"""The documentation runs as written and its generated parts match the code.

Code blocks: every ```python block of every page under docs/ and of README.md runs, the blocks of
one page in order in one fresh interpreter (so a page can build on its earlier blocks), in a
temporary directory, offline. A ```text block that follows a ```python block (blank lines
between at most) is the output that block must print: a line `...` stands for any number of
lines, `...` inside a line for any text. A block preceded by the line
`<!-- docs-test: skip REASON -->` is not run (for what the suite cannot do, e.g. a GPU).

Generated parts (docs/hooks.py, run by `mkdocs build`): the CLI reference holds every flag of
every command, each bench report is rendered with its machine and revision, every marker fills,
every test the reliability page names exists and every `:::` API target imports.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"<!-- docs-test: skip [^>]*-->\s*$")


def python_blocks(text: str) -> list[dict]:
    """The ```python blocks of a Markdown text, each with the output it must print (or None)
    and whether it is marked to skip."""
    fences = list(FENCE.finditer(text))
    blocks = []
    for i, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        expect = None
        if nxt and nxt.group(1) == "text" and not text[fence.end():nxt.start()].strip():
            expect = nxt.group(2)
        skip = bool(SKIP.search(text[:fence.start()].rstrip(" \t")[-200:] + "\n"))
        line = text.count("\n", 0, fence.start()) + 1
        blocks.append({"code": fence.group(2), "expect": expect, "skip": skip, "line": line})
    return blocks


def output_matches(expected: str, printed: str) -> bool:
    """`printed` against `expected`, where a line `...` is any lines and `...` any text."""
    parts = []
    for line in expected.rstrip().split("\n"):
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.rstrip().split("...")) + r"\n")
    return re.fullmatch("".join(parts), printed.rstrip() + "\n", flags=re.S) is not None


# Runs in the child: each block in one namespace, its stdout captured, results as JSON. The
# namespace is a fresh __main__ module, so blocks run as a script's top level does (a class they
# define is found as __main__.Name, as save_model/load_model look it up).
DRIVER = r"""
import contextlib, io, json, sys, traceback, types
sys.modules["__main__"] = main = types.ModuleType("__main__")
blocks, results, scope = json.load(sys.stdin), [], vars(main)
for code in blocks:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<docs block>", "exec"), scope)
        results.append({"stdout": out.getvalue(), "error": None})
    except BaseException:
        results.append({"stdout": out.getvalue(), "error": traceback.format_exc()})
        break
print("\n@@results@@" + json.dumps(results))
"""

RUNNABLE = [(page, python_blocks(page.read_text())) for page in PAGES]
RUNNABLE = [(page, blocks) for page, blocks in RUNNABLE if any(not b["skip"] for b in blocks)]


def test_the_runner_reads_blocks_outputs_and_skips():
    text = ("```python\nprint(1)\n```\n\n```text\n1\n```\n<!-- docs-test: skip needs a GPU -->\n"
            "```python\nimport cuda\n```\n```bash\nls\n```\n")
    first, second = python_blocks(text)
    assert first == {"code": "print(1)\n", "expect": "1\n", "skip": False, "line": 1}
    assert second["skip"] and second["expect"] is None
    assert output_matches("a\n...\nz 1...\n", "a\nb\nc\nz 1.25\n")
    assert output_matches("test accuracy 0.8...", "step 1: loss\ntest accuracy 0.89\n") is False
    assert not output_matches("1\n", "2\n")


@pytest.mark.multiprocess
@pytest.mark.parametrize("page, blocks", RUNNABLE,
                         ids=[str(p.relative_to(ROOT)) for p, _ in RUNNABLE])
def test_every_python_block_of_the_page_runs(page, blocks, tmp_path):
    todo = [b for b in blocks if not b["skip"]]
    if any("sklearn" in b["code"] for b in todo):
        pytest.importorskip("sklearn", reason="scikit-learn is an optional extra")
    env = {**os.environ, "LAYERWISE_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    codes = json.dumps([b["code"] for b in todo])
    done = subprocess.run([sys.executable, "-c", DRIVER], input=codes, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=env)
    assert "@@results@@" in done.stdout, done.stderr[-3000:]
    results = json.loads(done.stdout.rsplit("@@results@@", 1)[1])
    for block, result in zip(todo, results, strict=False):  # a raise ends the page
        where = f"{page.relative_to(ROOT)}:{block['line']}"
        assert result["error"] is None, f"{where} raised:\n{result['error'][-3000:]}"
        if block["expect"] is not None:
            assert output_matches(block["expect"], result["stdout"]), (
                f"{where} printed\n{result['stdout']}\ninstead of\n{block['expect']}")
    assert len(results) == len(todo)


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_flag_of_every_command_is_in_the_cli_reference():
    """The generated CLI reference (the site's Command line page) covers what --help offers."""
    from layerwise.cli.main import build_parser

    text = _hooks().cli_reference()
    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    if f"`{' '.join([*path, name])}`" not in text:
                        missing.append(" ".join([*path, name]))
                    walk(child, [*path, name])
            elif action.help != argparse.SUPPRESS:
                missing.extend(f"{' '.join(path)} {flag}" for flag in action.option_strings
                               if flag.startswith("--") and flag != "--help"
                               and f"`{flag}`" not in text)

    walk(build_parser(), ["layerwise"])
    assert not missing, missing


def test_the_cli_reference_gives_each_flag_its_default():
    text = _hooks().cli_reference()
    assert "| `--lr` `LR` | `0.001` |" in text          # TrainConfig.lr's default
    assert "| `--device` `DEVICE` | `auto` |" in text


def test_each_bench_report_is_rendered_with_its_machine_and_versions():
    text = _hooks().bench_tables()
    for path in sorted((ROOT / "bench-results").glob("*.json")):
        env = json.loads(path.read_text())["environment"]
        assert f"### {path.name}" in text
        section = text.split(f"### {path.name}", 1)[1].split("### ", 1)[0]
        for value in (env["revision"], env["torch"], env["cpu"]):
            assert str(value) in section, (path.name, value)


def test_every_generated_marker_of_every_page_fills():
    hooks = _hooks()
    for page in DOCS.rglob("*.md"):
        text = page.read_text()
        filled = hooks.fill(text)
        assert "<!-- generated:" not in filled, page
        assert "no row of docs/reproduce-quick/results.json" not in filled, page


def test_every_test_the_reliability_page_names_exists():
    text = (DOCS / "reliability.md").read_text()
    named = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", text)
    assert len(named) >= 20
    for path, name in named:
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), flags=re.M), (path, name)


def test_every_api_reference_target_imports():
    targets = re.findall(r"^::: ([\w.]+)", (DOCS / "api.md").read_text(), flags=re.M)
    assert len(targets) >= 15
    for target in targets:
        module, _, name = target.rpartition(".")
        assert hasattr(importlib.import_module(module), name), target


def test_no_list_is_glued_to_the_paragraph_above_it():
    """Markdown (mkdocs' Python-Markdown) renders a list that follows a paragraph line without
    a blank line as part of that paragraph: "... until --timeout: - Distinct hostnames."."""
    item = re.compile(r"^(?:[-*]|\d+\.) ")
    for page in PAGES:
        text = FENCE.sub("", page.read_text())      # code blocks may hold anything
        lines = text.splitlines()
        for before, line in itertools.pairwise(lines):
            if item.match(line) and before.strip() and not item.match(before) \
                    and not before.startswith((" ", "|", "<!--", "#")):
                raise AssertionError(f"{page.name}: a list starts right after {before!r}")
