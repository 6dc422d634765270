"""The model of the parallel epoch (rbm projection): its arithmetic, its fit, its command."""

import json

import pytest

from layerwise.cli.main import main
from layerwise.rbm import projection
from layerwise.rbm.comm import Problem

P = Problem(8000, 20000, 8000, 1000)


def test_one_machine_computes_five_products_and_k_machines_seven_over_k():
    flops = 1e11
    product = 2 * 1000 * 8000 * 20000 / flops  # one B x V x H product on one machine
    one = projection.epoch(P, 1, flops)
    assert one["seconds"] == pytest.approx(8 * 5 * product)
    four = projection.epoch(P, 4, flops, link_bits=1e15, latency=0)
    assert four["seconds"] == pytest.approx(8 * 7 * product / 4) and four["hidden"]
    assert four["exposed"] == 0


def test_exposure_starts_where_a_transfer_outlasts_its_product():
    flops, K = 1e11, 2
    product = 2 * 1000 * 8000 * 20000 / K / flops
    # the hidden exchange: B H bits, half of them sent by each of 2 ranks
    just_hidden = 1000 * 20000 / 2 / product
    assert projection.epoch(P, K, flops, just_hidden * 1.01, 0)["hidden"]
    slow = projection.epoch(P, K, flops, just_hidden / 2, 0)
    assert not slow["hidden"]
    assert slow["exposed"] == pytest.approx(8 * 2 * product)  # two hidden exchanges, 2x long
    rows = projection.project(P, projection.Machine("x", flops, True), 1e9, 0, [1, 2, 64])
    assert rows[0]["speedup"] == 1 and rows[1]["ideal"] == pytest.approx(10 / 7)
    assert projection.last_hidden(rows) in (1, 2, 64)


def _report(efficiency, flops=4e10):
    """A `bench links` report whose measurements are the model's own at `efficiency`."""
    p = Problem(800, 2000, 1000, 100)
    rows = []
    for rate, bits in (("none", None), ("100mbit", 1e8), ("10mbit", 1e7), ("3mbit", 3e6)):
        m = projection.epoch(p, 2, flops, bits or 1e15, 0, efficiency=efficiency)
        rows.append({"rate": rate, "rbm_exposed_seconds": m["exposed"] + 0.01,
                     "rbm_compute_seconds": m["compute"],
                     "rbm_link_exposed_seconds": m["exposed"]})
    return {"visible": 800, "hidden": 2000, "examples": 1000, "batch": 100, "rows": rows,
            "environment": {"cpu": "test"}}


@pytest.mark.parametrize("efficiency", [0.55, 0.8, 1.0])
def test_the_fit_recovers_the_link_efficiency_and_the_compute_rate(efficiency):
    report = _report(efficiency)
    assert projection.fit_efficiency(report, 0) == pytest.approx(efficiency, abs=0.011)
    assert projection.calibrate(report) == pytest.approx(4e10)


def test_the_command_says_it_is_a_model_and_refuses_a_missing_calibration(tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps(_report(0.8)))
    assert main(["rbm", "projection", "--calibration", str(tmp_path / "c.json"), "--check",
                 str(tmp_path / "c.json"), "--gpu-tflops", "50", "--plots", str(tmp_path),
                 "--json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("A MODEL, NOT A MEASUREMENT")
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["link_efficiency"] == pytest.approx(0.8, abs=0.011)
    assert (tmp_path / "projection.png").stat().st_size > 1000
    gpu = figures["machines"][1]
    assert not gpu["measured"] and len(gpu["links"]) == 3
    assert main(["rbm", "projection", "--calibration", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run the bench first" in err
