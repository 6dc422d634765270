"""Progress as a learner sees it: evaluation lines that stay, a bar on a terminal, plain lines in
a log, nothing under --quiet, and stdout's last line the JSON result under --json."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from layerwise.cli.main import main
from layerwise.progress import Progress

TRAIN = ["train", "softmax", "--steps", "30", "--eval-every", "10", "--device", "cpu"]


def test_piped_output_has_one_line_per_evaluation_then_the_result(capsys):
    assert main(TRAIN) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    assert [s.split(":")[0] for s in steps] == ["step 10", "step 20", "step 30"]
    assert all("train loss" in s and "validation loss" in s and "accuracy" in s for s in steps)
    assert lines[-1].startswith("softmax on mnist-10k (cpu): test accuracy")


def test_quiet_prints_only_the_result_and_json_keeps_stdout_for_the_result(capsys):
    assert main([*TRAIN, "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("softmax on mnist-10k")
    assert main([*TRAIN, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["steps"] == 30
    assert "step " not in captured.out and captured.err.count("step ") == 3


@pytest.mark.multiprocess
def test_a_terminal_gets_a_bar_and_the_evaluation_lines():
    leader, follower = pty.openpty()
    # A terminal of 24 x 100 characters (a new pseudo-terminal has no size, and tqdm draws
    # nothing in zero columns).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "layerwise", *TRAIN[:3], "400",
                             "--eval-every", "200", "--device", "cpu"],
                            stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=120) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "step 200: train loss" in screen and "step 400: train loss" in screen
    assert "train:" in screen and "step/s" in screen  # tqdm's bar, then cleared


def test_plain_progress_lines_when_not_on_a_terminal(capsys):
    bar = Progress(3, "AIS", "temperature", every=0.0)
    for _ in range(3):
        bar.update()
    bar.note("done")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("AIS: temperature 1 of 3 (33 %)") and out[-1] == "done"
    quiet = Progress(3, "AIS", enabled=False, every=0.0)
    quiet.update()
    quiet.note("x")
    assert capsys.readouterr().out == ""


def test_an_evaluation_line_shows_tiny_losses():
    """Four decimals printed a regression's converged loss as 0.0000."""
    from layerwise.train.trainer import evaluation_line

    line = evaluation_line({"step": 1000, "train_loss": 5.69997e-11, "val_loss": 0.0567}, 35)
    assert line == "step 1000: train loss 5.7e-11, validation loss 0.0567 (35 s)"
