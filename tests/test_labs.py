"""Each lab reproduces what the course's lab printed (or its modern equivalent)."""

import json

import pytest

from layerwise.cli.main import main
from layerwise.labs import LabOptions, lab1, lab2, lab3, lab4, lab5, lab8


def test_labs_1_to_3_match_the_course_output():
    assert lab1(LabOptions())[1] == {"node3": 7.0}
    assert lab2(LabOptions())[1] == {"add": 7.5, "add_vector": [3.0, 7.0], "add_and_triple": 22.5}
    fig = lab3(LabOptions())[1]
    assert fig["linear_model"] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    assert fig["loss"] == pytest.approx(23.66) and fig["loss_fixed"] == 0.0


def test_lab4_converges_to_w_minus_1_b_1_as_in_the_course():
    lines, fig = lab4(LabOptions())
    assert fig["W"] == pytest.approx(-1.0, abs=1e-5) and fig["b"] == pytest.approx(1.0, abs=1e-4)
    assert fig["loss"] < 1e-9
    # The course's printed table: step 100 W=-0.84079814 b=0.53192717 loss=0.146364.
    step, W, b, loss = fig["table"][1]
    assert step == 100 and W == pytest.approx(-0.84079814, abs=1e-6)
    assert b == pytest.approx(0.53192717, abs=1e-6) and loss == pytest.approx(0.146364, rel=1e-4)


def test_lab5_separate_train_and_eval_loss():
    fig = lab5(LabOptions(progress=False))[1]
    assert fig["train_loss"] < 1e-6
    # Eval points (2,-1.01),(5,-4.1),(8,-7),(1,0) against y = 1 - x: MSE (0.01^2 + 0.1^2) / 4.
    assert fig["eval_loss"] == pytest.approx(0.002525, rel=1e-2)


def test_lab8_places_and_computes():
    fig = lab8(LabOptions())[1]
    assert (fig["c"], fig["f"]) == (7.0, 35.0) and fig["k"] == pytest.approx(15 / 97)
    assert fig["placement"]["f"] == "cpu"


def test_lab6_json_from_the_cli(capsys):
    assert main(["lab", "6", "--steps", "200", "--device", "cpu", "--json"]) == 0
    fig = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert fig["lab"] == 6 and fig["steps"] == 200 and fig["test_accuracy"] > 0.85
    assert {"test_loss", "train_seconds", "device", "dataset"} <= set(fig)


def test_labs_say_what_they_ran_and_show_the_courses_figures(capsys):
    import json

    from layerwise.cli.main import main

    assert main(["lab", "4", "--device", "cpu", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("Lab 4: W x + b fitted by gradient descent, lr 0.01")
    assert any(line.startswith("beside the course") for line in out)
    rows = {r["figure"]: r for r in json.loads(out[-1])["course"]}
    # float32 gradient descent: the last bits depend on the CPU's kernels (1.2e-7 for b on an
    # AVX-512 machine, under 1e-7 on AVX2), a few float32 ulps of values near 1
    assert rows["W"]["course"] == -0.9999969 and abs(rows["W"]["difference"]) < 5e-7
    # the final loss is float32 rounding noise near 0 (ours and the course's 7.7e-13 apart
    # on this machine): what matters is that it is as small as the course's
    assert abs(rows["b"]["difference"]) < 5e-7 and abs(rows["loss"]["difference"]) < 1e-10
    assert main(["lab", "6", "--steps", "20", "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "0.92" in out and "full MNIST" in out


def test_lab6_over_seeds_reports_each_run_and_their_mean(capsys):
    assert main(["lab", "6", "--steps", "100", "--device", "cpu", "--seeds", "3", "--seed", "4",
                 "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    fig = json.loads(out[-1])
    each = fig["test_accuracy_seeds"]
    assert fig["seeds"] == [4, 6] and len(each) == 3 and len(set(each)) > 1  # seeds differ
    assert fig["test_accuracy"] == pytest.approx(sum(each) / 3)
    assert fig["test_accuracy_std"] > 0 and fig["course"][0]["here"] == fig["test_accuracy"]
    # the first run is the single run of its seed (the data is split with the first seed)
    assert main(["lab", "6", "--steps", "100", "--device", "cpu", "--seed", "4", "--json"]) == 0
    single = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert single["test_accuracy"] == each[0]
    assert any(line.startswith("seed 6: test accuracy") for line in out)
    assert main(["lab", "6", "--seeds", "0"]) == 2
