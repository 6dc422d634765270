"""README.md is a short front door that stays true.

Its ```python blocks run in tests/test_docs.py (with every page of the site), and the check that
every flag of every command is documented applies to the generated CLI reference there
(`test_every_flag_of_every_command_is_in_the_cli_reference`). Here: the README has examples,
states CI's test command, links only to files that exist, every number of its results table is
in the committed file the row names, and it stays short.
"""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", TEXT, flags=re.M | re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 3


def test_the_readme_states_the_test_command_ci_runs():
    assert "python3 -m pytest -q" in TEXT
    assert re.search(r"^python3 -m pytest -q$", (ROOT / ".ci" / "run").read_text(), flags=re.M)


def test_every_link_of_the_readme_resolves():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", TEXT)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 5
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


def test_the_readme_names_every_command_once_at_least():
    from layerwise.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    missing = [name for name in sub.choices if f"`{name}`" not in TEXT
               and f"layerwise {name}" not in TEXT]
    assert not missing, missing


def _numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def test_every_headline_number_is_in_the_committed_file_its_row_names():
    """Rows of the results table: | what | printed | layerwise | source |; each number in the
    layerwise cell is a number of the source file, rounded as shown."""
    rows = [r for r in re.findall(r"^\|(.+)\|$", TEXT, flags=re.M) if ".json" in r]
    assert len(rows) >= 5
    for row in rows:
        cells = [c.strip() for c in row.split("|")]
        source = re.search(r"`([\w./-]+\.json)`", cells[-1]).group(1)
        known = _numbers(json.loads((ROOT / source).read_text()))
        for shown in re.findall(r"-?\d[\d,]*\.?\d*", cells[2].replace("−", "-")):
            decimals = len(shown.split(".")[1]) if "." in shown else 0
            value = float(shown.replace(",", ""))
            assert any(round(k, decimals) == value for k in known), (shown, source)


def test_the_readme_stays_a_front_door():
    assert len(TEXT.splitlines()) <= 220
