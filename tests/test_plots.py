"""The figures say what was run: titles, rows, axes and points read back from the figure objects
(and files read back), not only that a PNG exists."""

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from layerwise.cli.main import main
from layerwise.plots import plot, read_csv
from layerwise.reproduce import Row
from layerwise.reproduce import plots as draw
from layerwise.reproduce.course import COURSE_HARDWARE

matplotlib.use("Agg")


@pytest.fixture
def figures(monkeypatch):
    """Every figure closed while the test runs, kept open for reading."""
    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    for fig in kept:
        close(fig)


def test_speedup_is_titled_with_the_problem_run_and_draws_the_ideal(tmp_path, figures):
    measured = {"visible": 200, "hidden": 400, "examples": 200, "batch": 100,
                "threads_per_rank": 1, "epoch_seconds": {1: 0.04, 2: 0.03}}
    projected = [Row("report", "s", f"speed-up over one machine, K={k}, 1 Gbit/s", "", 5 * k / 7,
                     "x", "projected", "") for k in (2, 4)]
    draw.speedup(measured, projected, tmp_path)
    ax = figures[-1].axes[0]
    assert "measured 200 x 400" in ax.get_title() and "8,000 x 20,000" in ax.get_title()
    lines = {line.get_label(): line for line in ax.get_lines()}
    here = lines["measured here, 1 thread(s) per rank"]
    assert list(here.get_xdata()) == [1, 2]
    assert list(here.get_ydata()) == pytest.approx([1.0, 0.04 / 0.03])
    ideal = next(v for k, v in lines.items() if k.startswith("ideal"))
    assert list(ideal.get_ydata()) == pytest.approx([1.0, 10 / 7, 20 / 7])


def test_hardware_has_every_course_row_and_labels_this_machine(tmp_path, figures):
    printed = dict(COURSE_HARDWARE)
    assert [v for k, v in printed.items() if "K80" in k] == [221, 326, 258]
    assert {printed[k] for k in printed if "P100" in k or "M2090" in k or "28 cores" in k} == \
        {132, 6162, 1308}
    assert sum(v is None for v in printed.values()) == 2  # the GTX 960M and the K20: OOM
    draw.hardware(COURSE_HARDWARE, 900.0, "this machine\nprojected from 40 steady-state steps",
                  tmp_path)
    ax = figures[-1].axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names[:-1] == list(printed) and "projected" in names[-1]
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == [v or 0 for v in printed.values()] + [900.0]
    assert ax.get_xscale() == "log"
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("out of memory (no time)") == 2 and "900 s" in texts


def test_one_point_shows_and_decades_go_on_a_log_axis(tmp_path, figures):
    plot(tmp_path / "p.png", "step", {"train loss": [0.5]}, [20], "one", "loss",
         x_from_zero=True)
    ax = figures[-1].axes[0]
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] >= 20
    assert ax.get_lines()[0].get_marker() == "o"
    plot(tmp_path / "q.png", "step", {"W": [0.3, -1.0]}, [0, 1000], "two", "value",
         right={"loss": [30.0, 5.7e-11]}, right_label="loss")
    fig = figures[-1]
    twin = fig.axes[1]
    assert fig.axes[0].get_yscale() == "linear" and twin.get_yscale() == "log"
    assert "log scale" in twin.get_ylabel()
    assert fig.legends and not fig.axes[0].get_legend()  # below the axes, over no point


def test_lab4_plot_ends_at_the_final_step(tmp_path, figures):
    table = [[0, 0.3, -0.3, 23.0], [900, -0.99998, 0.99996, 6.3e-10]]
    draw.lab4(table, tmp_path, (1000, -0.9999969, 0.9999907, 5.78e-11))
    twin = figures[-1].axes[1]
    assert list(twin.get_lines()[0].get_xdata()) == [0, 900, 1000]
    assert twin.get_yscale() == "log"


def test_gibbs_chains_from_data_move_and_stay_apart():
    from layerwise import CDConfig, RBMConfig, RunConfig, fit_rbm
    from layerwise.data.datasets import load_dataset
    from layerwise.rbm.images import chain_grid, gibbs_chains

    res = fit_rbm(RBMConfig(n_hidden=200), "mnist-10k", CDConfig(epochs=3),
                  RunConfig(val_size=0), progress=False)
    test = load_dataset("mnist-10k", val_size=0, progress=False).test
    start = res.preprocessing(test.x[[int((test.y == c).nonzero()[0]) for c in range(10)]],
                              torch.float32)
    at = [0, 1, 10, 100, 1000]
    frames = gibbs_chains(res.rbm.cpu(), start, at, torch.Generator().manual_seed(0))
    assert frames.shape == (10, len(at), 784)
    assert torch.equal(frames[:, 0], start)  # step 0 is the digit itself
    assert (frames[:, -1] - frames[:, 0]).abs().mean() > 0.05  # the chains moved
    assert frames[:, -1].std(0).mean() > 0.05  # and did not all end on one image
    grid = chain_grid(frames, res.preprocessing)
    assert grid.shape == (10 * 29 + 1, len(at) * 29 + 1)  # a row per chain, a column per step
    assert torch.equal(grid[1:29, 1:29], start[0].reshape(28, 28))


def test_rbm_train_plots_writes_the_epoch_curves_and_says_where(tmp_path, capsys):
    out = tmp_path / "plots"
    assert main(["rbm", "train", "--epochs", "2", "--hidden", "16", "--plots", str(out),
                 "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    for name in ("filters.png", "curves.csv", "curves.png"):
        assert f"wrote {out / name}" in printed
    rows = read_csv(out / "curves.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(0 < r["recon_error"] < 1 and r["pseudo_likelihood"] < 0 for r in rows)


def test_a_rate_axis_can_start_at_zero():
    """bench ddp's examples/s over ranks drew 1,618 -> 1,829 on an axis cut at 1,600, which
    read as a steep rise: rates and speed-ups start their axis at 0."""
    from layerwise.plots import png_bytes

    args = ("ranks", {"examples/s": [1618.5, 1829.1]}, [1, 2], "deepnn", "examples/s")
    assert png_bytes(*args, y_from_zero=True) != png_bytes(*args)
    assert png_bytes(*args, y_from_zero=True).startswith(b"\x89PNG")
