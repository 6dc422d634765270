"""`layerwise reproduce` end to end in its tiny mode: both documents, every row complete."""

import json

import pytest

from layerwise.cli.main import main

VERDICTS = {"agrees", "differs", "exact", "measured", "quick", "tiny", "projected", "not run"}


@pytest.mark.multiprocess
def test_both_documents_in_tiny_mode(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "all", "--tiny", "--dataset", "mnist-10k", "--out", str(out),
                 "--quiet"]) == 0
    assert "figures:" in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    rows = data["rows"]
    assert {r["document"] for r in rows} == {"course", "report"} and data["mode"] == "tiny"
    for r in rows:
        assert r["printed"] is not None and r["verdict"] in VERDICTS and r["command"], r
        assert r["measured"] is not None or r["verdict"] == "not run", r
    by = {(r["section"], r["quantity"]): r for r in rows}
    assert by["Lab 4", "W"]["verdict"] == "agrees"
    assert by["Table 4.1", "MB per epoch, binary float32, K=8"]["measured"] == 336
    assert by["Table 1 (CIFAR-10)", "net3 parameters"]["verdict"] == "exact"
    assert by["Lab 7", "test accuracy"]["verdict"] == "tiny"  # a shortened run says so
    assert by["Lab 6", "test accuracy, mean of 2 seeds"]["command"].endswith("--seeds 2")
    assert by["Lab 9", "accuracy after save and restore"]["verdict"] == "exact"
    report = (out / "REPORT.md").read_text()
    assert "| Lab 4 | W | -0.9999969 |" in report
    for png in data["plots"]:
        assert (out / png).stat().st_size > 1000 and f"]({png})" in report


def test_reproduce_refuses_an_output_that_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["reproduce", "course", "--tiny", "--out", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
