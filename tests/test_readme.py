"""Every ```python block of README.md runs as written, each in a fresh interpreter."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.M | re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code, tmp_path):
    if "sklearn" in code:
        pytest.importorskip("sklearn", reason="scikit-learn is an optional extra")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), "the example printed nothing"


def test_every_flag_of_every_command_is_in_the_readme():
    """README's usage blocks cover what --help offers (hidden old names excepted)."""
    import argparse

    from layerwise.cli.main import build_parser

    text = README.read_text()
    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    if name not in text:
                        missing.append(" ".join([*path, name]))
                    walk(child, [*path, name])
            elif action.help != argparse.SUPPRESS:
                missing.extend(f"{' '.join(path)} {flag}" for flag in action.option_strings
                               if flag.startswith("--") and flag not in ("--help", "--version")
                               and not re.search(re.escape(flag) + r"\b", text))

    walk(build_parser(), [])
    assert not missing, missing
