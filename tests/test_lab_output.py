"""What `layerwise lab N` says: the course's words and ours, labelled lines, the course's figures
beside ours with a verdict that names a shorter run, how long a long recipe takes, what "train
loss" is, and the figures --plots draws (read back from the PNG and from the figure objects)."""

import json
import re

import matplotlib
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import pytest
import torch

from layerwise.cli.main import main
from layerwise.labs import beside_the_course
from layerwise.labs import plots as draw
from layerwise.progress import Progress, labelled

matplotlib.use("Agg")
CPU = ["--device", "cpu"]


@pytest.fixture
def figures(monkeypatch):
    """Every figure closed while the test runs, kept open for reading."""
    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    for fig in kept:
        close(fig)


def _run(capsys, *argv) -> tuple[list[str], dict | None, str]:
    """Lines of standard output, the JSON figures (with --json) and standard error."""
    assert main(["lab", *argv]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    return lines, json.loads(lines[-1]) if "--json" in argv else None, captured.err


def test_the_instant_labs_say_what_the_course_did_and_label_every_value(capsys):
    expected = {
        1: ["print(node1, node2, node3): 3.0 4.0 7.0", "sess.run([node1, node2]): [3.0, 4.0]",
            "sess.run(node3): 7.0"],
        2: ["adder_node {a: 3, b: 4.5}: 7.5", "adder_node {a: [1,3], b: [2, 4]}: [3.0, 7.0]",
            "add_and_triple {a: 3, b: 4.5}: 22.5"],
        3: ["linear_model {x: [1,2,3,4]}: [0.0, 0.3, 0.6, 0.9]", "loss, W = .3, b = -.3: 23.66",
            "loss, W = -1, b = 1 (tf.assign): 0.0"],
        8: ["[a, b, c]: [3.0, 4.0, 7.0]", "[f]: [35.0]", "[k]: [0.15463917]"],
    }
    for number, labelled_lines in expected.items():
        out, _, _ = _run(capsys, str(number))
        assert out[0].startswith(f"Lab {number}: ") and out[1].startswith("The course: ")
        assert any(line.startswith("Here: ") for line in out)
        for line in labelled_lines:
            assert any(o.startswith(line) for o in out), (number, line, out)
        bare = [o for o in out if re.fullmatch(r"[\d.,\[\] +-]+", o)]
        assert not bare, f"lab {number} prints unlabelled values: {bare}"
        if number in (1, 2, 3):  # printed figures: every row agrees with the course
            rows = out[out.index(next(o for o in out if o.startswith("beside the course"))) + 1:]
            assert rows and all(r.endswith(("agrees", "within float32 rounding")) for r in rows)


def test_lab8_says_what_the_memory_cap_does_when_it_cannot_apply_it(capsys):
    out, figures, _ = _run(capsys, "8", "--json")
    cap = [line for line in out if line.startswith("GPU memory cap: ")]
    assert len(cap) == 1
    if torch.cuda.is_available():
        assert "may use 40% of its memory" in cap[0] and figures["memory_cap"] == 0.4
    else:
        assert cap[0].startswith("GPU memory cap: not applied, no GPU here")
        assert "40%" in cap[0] and figures["memory_cap"] is None
    assert "a, b, c = a + b (the course: /gpu:1): on " in "\n".join(out)


def test_lab5_shows_its_loss_falling_and_why_it_is_below_the_courses(capsys):
    out, figures, _ = _run(capsys, "5", *CPU, "--json")
    rows = [line.split() for line in out if re.match(r"^ *\d+  \S+$", line)]
    assert [int(r[0]) for r in rows] == list(range(100, 1001, 100))
    losses = [float(r[1]) for r in rows]
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))  # no "0.0000" rows
    assert losses[-1] == pytest.approx(figures["train_loss"], rel=1e-2) and losses[-1] < 1e-9
    assert sum(line.startswith("note: train loss is the mean squared error") for line in out) == 1
    (row,) = figures["course"]
    assert row["course"] == 6.28759e-07 and row["verdict"] == "lower: see note"
    assert "FTRL" in row["note"] and any("FTRL" in line for line in out)
    assert figures["W"] == pytest.approx(-1, abs=1e-5)
    assert figures["b"] == pytest.approx(1, abs=1e-5)


def test_a_shorter_run_says_so_in_every_row(capsys):
    _, figures, _ = _run(capsys, "4", "--steps", "300", "--json")
    assert [r["figure"] for r in figures["course"]] == ["W", "b", "loss"]
    for r in figures["course"]:
        assert r["verdict"].endswith("300 of the course's 1,000 steps"), r
        assert r["verdict"].startswith(("higher", "lower"))  # 300 steps are not 1,000
    out, figures, _ = _run(capsys, "6", "--steps", "20", *CPU, "--quiet", "--json")
    (row,) = figures["course"]
    assert row["verdict"] == "lower: 20 of the course's 1,000 steps, mnist-10k, not full MNIST"
    assert any(line.startswith("test accuracy") and row["verdict"] in line for line in out)
    assert not any(line.startswith("note: train loss") for line in out)  # no progress shown


def test_verdicts_name_agreement_rounding_and_direction():
    full = {"steps": 20000, "dataset": "mnist"}
    (agrees,) = beside_the_course(7, {**full, "test_accuracy": 0.9925})  # within 0.001
    assert agrees["verdict"] == "agrees" and "note" not in agrees
    (lower,) = beside_the_course(7, {**full, "test_accuracy": 0.98})
    assert lower["verdict"] == "lower: see note" and "hardware table" in lower["note"]
    (higher,) = beside_the_course(6, {"steps": 1000, "dataset": "mnist", "test_accuracy": 0.95})
    assert higher["verdict"] == "higher"
    (longer,) = beside_the_course(6, {"steps": 3000, "dataset": "mnist", "test_accuracy": 0.95})
    assert longer["verdict"] == "higher: 3,000 steps, the course's 1,000"
    W, b, loss = beside_the_course(4, {"steps": 1000, "W": -0.9999969 + 1e-7, "b": 0.99999082,
                                       "loss": 5.7e-11})
    assert W["verdict"] == loss["verdict"] == "within float32 rounding"
    assert b["verdict"] == "agrees" and b["difference"] == 0


def test_lab6_notes_what_train_loss_is_under_its_progress_lines(capsys):
    out, _, _ = _run(capsys, "6", "--steps", "200", *CPU)
    steps = [k for k, line in enumerate(out) if line.startswith("step ")]
    notes = [k for k, line in enumerate(out) if line.startswith("note: train loss")]
    result = next(k for k, line in enumerate(out) if line.startswith("softmax on"))
    assert len(steps) == 2 and notes == [steps[-1] + 1]
    assert all(line.startswith("  ") for line in out[notes[0] + 1:result])  # its wrapped rest


def test_lab7_says_how_long_the_full_recipe_takes_and_draws_its_curves(capsys, tmp_path,
                                                                      figures):
    out, fig, err = _run(capsys, "7", "--steps", "5", *CPU, "--plots", str(tmp_path),
                         "--json")
    # under --json the estimate goes where progress goes, standard error, before training
    err = err.replace("\n  ", " ")  # long lines are wrapped with an indent
    full = re.search(r"^Full recipe: 20,000 steps, about (\d+ h \d\d min|\d+ min( \d\d s)?|\d+ s)"
                     r" here \(([\d.e-]+) s a step, timed over (\d+) steps after 3 warm-up "
                     r"steps\)\.$", err, re.M)
    assert full, err
    assert re.search(r"^This run: 5 steps, about \d+ s\.$", err, re.M)
    assert err.index("Full recipe") < err.index("step 5: train loss")
    estimate = fig["estimate"]
    assert float(full.group(3)) == pytest.approx(estimate["seconds_per_step"], rel=1e-2)
    assert 3 <= estimate["timed_steps"] <= 20 and fig["steps"] == 5
    assert estimate["full_recipe_seconds"] == pytest.approx(20000 * estimate["seconds_per_step"])
    (row,) = fig["course"]
    assert row["verdict"].startswith("lower: 5 of the course's 20,000 steps, mnist-10k")
    assert f"wrote {tmp_path / 'lab7-learning-curves.png'}" in out
    image = mpimg.imread(tmp_path / "lab7-learning-curves.png")
    assert image.shape[0] > 100 and image.shape[1] > 100
    loss_ax, accuracy_ax = figures[-1].axes
    (val,) = [line for line in accuracy_ax.get_lines()]
    assert list(val.get_xdata()) == [5]  # one evaluation, at the end: one visible point
    assert val.get_ydata()[0] == pytest.approx(fig["last_eval"]["val_accuracy"])
    assert accuracy_ax.get_xlim()[0] == 0 and val.get_marker() == "o"
    # the estimate does not change the run: the same seed gives the same accuracy without it
    _, quiet, err = _run(capsys, "7", "--steps", "5", *CPU, "--quiet", "--json")
    assert "Full recipe" not in err and "estimate" not in quiet
    assert quiet["test_accuracy"] == fig["test_accuracy"]


def test_lab9_labels_its_three_trainings_and_draws_them(capsys, tmp_path, figures):
    out, fig, err = _run(capsys, "9", "--steps", "15", *CPU, "--plots", str(tmp_path),
                         "--json")
    assert fig["restored_accuracy"] == fig["first_accuracy"] > 0.5
    assert fig["restored_same_weights"] and fig["test_accuracy"] > 0.5
    for run in ("digits 0-4", "transfer", "from scratch"):
        assert f"[{run}] step 15: train loss" in err
    assert re.search(r"^Full recipe: 3 trainings of 300 steps, about .* at most here",
                     err.replace("\n  ", " "), re.M)
    trails = any(line.startswith("Transfer trails from scratch") for line in out)
    assert trails == (fig["test_accuracy"] < fig["scratch_accuracy"])
    image = mpimg.imread(tmp_path / "lab9-transfer.png")
    assert image.shape[0] > 100
    losses, bars = figures[-1].axes
    assert [line.get_label() for line in losses.get_lines()] == ["digits 0-4", "transfer",
                                                                  "from scratch"]
    assert list(losses.get_lines()[1].get_xdata())[-1] == 15
    assert [p.get_width() for p in bars.patches] == pytest.approx(
        [fig["first_accuracy"], fig["restored_accuracy"], fig["test_accuracy"],
         fig["scratch_accuracy"]])


def test_lab6_draws_w_as_ten_digit_images_on_a_scale_centred_at_zero(capsys, tmp_path,
                                                                       figures):
    out, _, _ = _run(capsys, "6", "--steps", "20", *CPU, "--quiet", "--plots", str(tmp_path))
    for name in ("lab6-weights.png", "lab6-learning-curve.png"):
        assert f"wrote {tmp_path / name}" in out
        assert mpimg.imread(tmp_path / name).shape[0] > 100
    weights = next(f for f in figures if len(f.axes) == 11)  # ten digits and the colour bar
    images = [ax.get_images()[0] for ax in weights.axes[:10]]
    assert [im.get_array().shape for im in images] == [(28, 28)] * 10
    low, high = images[0].get_clim()
    assert high > 0 and low == -high and images[0].get_cmap().name == "RdBu_r"
    assert max(abs(im.get_array()).max() for im in images) == pytest.approx(high)
    # each image is its digit's row of W
    W = torch.arange(10.0)[:, None, None] * torch.ones(10, 28, 28) - 4.5
    draw.weights(W, tmp_path / "w.png", "W")
    shown = [ax.get_images()[0].get_array() for ax in figures[-1].axes[:10]]
    assert [float(s.mean()) for s in shown] == pytest.approx([d - 4.5 for d in range(10)])
    assert [ax.get_title() for ax in figures[-1].axes[:10]] == [f"digit {d}" for d in range(10)]


def test_plots_are_refused_before_any_work_where_they_cannot_be_written(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    assert main(["lab", "6", *CPU, "--plots", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert "--plots" in err and "is a file" in err and err.count("\n") == 1
    assert main(["lab", "5", "--plots", str(tmp_path)]) == 2
    assert "lab 5 draws no figures" in capsys.readouterr().err


def test_lab4_plot_reads_back_w_b_and_the_loss(capsys, tmp_path, figures):
    out, fig, _ = _run(capsys, "4", "--plots", str(tmp_path), "--json")
    assert out[-2] == f"wrote {tmp_path / 'lab4-convergence.png'}"
    assert mpimg.imread(tmp_path / "lab4-convergence.png").shape[:2] == (480, 700)
    ax, twin = figures[-1].axes
    W, b = ax.get_lines()
    assert list(W.get_xdata()) == list(range(0, 1001, 100))
    assert W.get_ydata()[-1] == fig["W"] and b.get_ydata()[-1] == fig["b"]
    assert twin.get_yscale() == "log" and twin.get_lines()[0].get_ydata()[-1] == fig["loss"]


def test_help_gives_each_labs_steps_and_ends_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["lab", "--help"])
    text = capsys.readouterr().out
    flat = " ".join(text.split())
    assert "lab 4: 1,000, lab 5: 1,000, lab 6: 1,000, lab 7: 20,000, lab 9: 300" in flat
    tail = text.strip().splitlines()[-4:]
    assert tail[0] == "examples:" and all(t.startswith("  layerwise lab ") for t in tail[1:])


def test_piped_progress_says_the_time_left_and_which_training_it_is(capsys):
    with labelled("transfer"):
        bar = Progress(4, "train", every=0.0)
        bar.update()
        bar.note("step 1: train loss 0.5")
    bar.update(3)
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\[transfer\] train: step 1 of 4 \(25 %\), [\d.]+ steps/s, \d+ s, "
                        r"about \d+ s left", out[0]), out[0]
    assert out[1] == "[transfer] step 1: train loss 0.5"
    assert "left" not in out[2]  # done: nothing left to estimate
