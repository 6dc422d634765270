"""Write notebooks/: one notebook per lab of the course (1-9) and one for the report.

The cells live here, so the ten notebooks share their opening (what the course did, then a cell
of parameters read from LAYERWISE_NOTEBOOK_SCALE) and their helpers, and a change is reviewed
as a change of this file. `--execute` runs each notebook with nbclient in a temporary directory
and keeps its outputs (commit them: a code host then shows the tables and plots).

    python scripts/make_notebooks.py                       # write the cells, no outputs
    python scripts/make_notebooks.py --execute             # run them at the default scale
    python scripts/make_notebooks.py --execute --only lab7 --scale tiny --dry-run   # time one

Scales: tiny (seconds; what tests/test_notebooks.py runs), small (the default, a few minutes on
two CPU cores) and full (the course's own step counts, on full MNIST where it is available).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "notebooks"
SCALE_VARIABLE = "LAYERWISE_NOTEBOOK_SCALE"

# The opening of every notebook's first code cell.
PARAMETERS = f'''\
import os

# tiny: seconds (the test suite); small: a few minutes on 2 CPU cores (the default);
# full: the course's own recipe. Set {SCALE_VARIABLE} before starting the kernel.
SCALE = os.environ.get("{SCALE_VARIABLE}", "small")
assert SCALE in ("tiny", "small", "full"), f"unknown scale {{SCALE!r}}"
'''

# Every notebook's second code cell.
HELPERS = '''\
%matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

import layerwise as lw


def show_table(header, rows):
    """Rows as a Markdown table (Jupyter and code hosts render it)."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    display(Markdown("\\n".join(lines)))


def g(value, digits=4):
    """A number as the tables show it."""
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)
'''

# For the notebooks that train on part of a dataset.
FIRST_N = '''\
import dataclasses


def first_n(data, n):
    """The first n examples of each split of `data` (all of them when n is None)."""
    if n is None:
        return data
    cut = {name: lw.Split(split.x[:n], split.y[:n])
           for name, split in (("train", data.train), ("val", data.val), ("test", data.test))
           if split is not None}
    return dataclasses.replace(data, **cut)
'''


def md(text: str) -> tuple[str, str]:
    return "markdown", textwrap.dedent(text).strip()


def code(text: str) -> tuple[str, str]:
    return "code", textwrap.dedent(text).strip()


def parameters(text: str = "") -> tuple[str, str]:
    return "code", (PARAMETERS + textwrap.dedent(text)).strip()


# ---------------------------------------------------------------------------------------------
LAB1 = [
    md('''
    # Lab 1: constants

    **The course (TensorFlow 1.x, 2017).** "TensorFlow: Lab 1: Hello world!" builds a graph of
    two constants and their sum (`node1 = tf.constant(3.0)`, `node2 = tf.constant(4.0)`,
    `node3 = tf.add(node1, node2)`), prints the nodes, runs them in a `tf.Session` and writes
    the graph for TensorBoard. Printing a node gave `Tensor("n1:0", shape=(), dtype=float32)`,
    not 3.0: "Nodes are evaluated only in session as you can see from the above output".

    **Here.** PyTorch runs eagerly: a tensor holds its value as soon as it is made, and there is
    no graph to build and no session to open. The same three nodes, and the course's printed
    output beside ours. `layerwise lab 1` prints the same from the command line.
    '''),
    parameters('''
    # Nothing in this lab depends on the scale: it runs in milliseconds.
    '''),
    code(HELPERS),
    code('''
    import torch

    node1 = torch.tensor(3.0)  # tf.constant(3.0, dtype=tf.float32, name='n1')
    node2 = torch.tensor(4.0)  # tf.constant(4.0, name='n2')
    node3 = node1 + node2      # tf.add(node1, node2): computed now, not when a session runs
    print(node1, node2, node3)
    print([node1.item(), node2.item()])
    print("node3:", node3.item())
    '''),
    md('''
    The course's printed output beside ours. Its first line shows graph nodes without values;
    ours shows the values, which is the difference between a graph and eager execution.
    '''),
    code('''
    show_table(["what is printed", "the course (TF 1.x)", "here (PyTorch)", "difference"], [
        ["the nodes", '`Tensor("n1:0", shape=(), dtype=float32)` ... `Tensor("Add:0", ...)`',
         f"`{node1!s} {node2!s} {node3!s}`", "values at once, no session"],
        ["[node1, node2]", "[3.0, 4.0]", [node1.item(), node2.item()],
         max(abs(node1.item() - 3.0), abs(node2.item() - 4.0))],
        ["node3", 7.0, node3.item(), node3.item() - 7.0],
    ])
    '''),
]

# ---------------------------------------------------------------------------------------------
LAB2 = [
    md('''
    # Lab 2: placeholders

    **The course (TensorFlow 1.x).** "Instead of using constants, we can use placeholders to be
    later substituted by any data via dictionary": `a = tf.placeholder(tf.float32)`, the same
    for `b`, `adder_node = a + b`, `add_and_triple = adder_node * 3.`, then
    `sess.run(adder_node, {a: 3, b: 4.5})`, the same with vectors `{a: [1, 3], b: [2, 4]}`, and
    `sess.run(add_and_triple, {a: 3, b: 4.5})`. It printed `7.5 [3. 7.] 22.5`.

    **Here.** A placeholder is a function's argument: the graph `a + b` is a Python function
    that takes numbers or vectors, and composing it with `* 3` is calling it.
    `layerwise lab 2` prints the same.
    '''),
    parameters('''
    # Nothing in this lab depends on the scale: it runs in milliseconds.
    '''),
    code(HELPERS),
    code('''
    import torch


    def adder(a, b):  # adder_node = a + b, with a and b fed at the call
        return torch.as_tensor(a) + torch.as_tensor(b)


    added = adder(3.0, 4.5)                         # sess.run(adder_node, {a: 3, b: 4.5})
    added_vectors = adder([1.0, 3.0], [2.0, 4.0])   # {a: [1, 3], b: [2, 4]}
    add_and_triple = adder(3.0, 4.5) * 3.0          # add_and_triple = adder_node * 3.
    print(added.item(), added_vectors.tolist(), add_and_triple.item())
    '''),
    code('''
    show_table(["figure", "the course printed", "here", "difference"], [
        ["adder_node, {a: 3, b: 4.5}", 7.5, added.item(), added.item() - 7.5],
        ["adder_node, {a: [1, 3], b: [2, 4]}", "[3. 7.]", added_vectors.tolist(),
         (added_vectors - torch.tensor([3.0, 7.0])).abs().max().item()],
        ["add_and_triple, {a: 3, b: 4.5}", 22.5, add_and_triple.item(),
         add_and_triple.item() - 22.5],
    ])
    '''),
]

# ---------------------------------------------------------------------------------------------
LAB3 = [
    md('''
    # Lab 3: variables and a loss

    **The course (TensorFlow 1.x).** "To be able to modify the tensors as the program runs, for
    example, as a result of learning, *Variable* is used": `W = tf.Variable([.3])`,
    `b = tf.Variable([-.3])`, `linear_model = W * x + b` on x = 1, 2, 3, 4; the loss
    `tf.reduce_sum(tf.square(linear_model - y))` against y = 0, -1, -2, -3; then `tf.assign`
    sets W = -1 and b = 1 by hand ("In lab 3 we manually found optimal values for the weights")
    and the loss is evaluated again. It printed `[ 0. 0.30000001 0.60000002 0.90000004]`,
    `23.66` and `0.0`.

    **Here.** The variables are tensors (float32, as TensorFlow's were) that are changed in
    place; the points and both lines are plotted. `layerwise lab 3` prints the same.
    '''),
    parameters('''
    # Nothing in this lab depends on the scale: it runs in milliseconds.
    '''),
    code(HELPERS),
    code('''
    import torch

    x = torch.tensor([1.0, 2.0, 3.0, 4.0])    # the placeholders' data
    y = torch.tensor([0.0, -1.0, -2.0, -3.0])
    W, b = torch.tensor([0.3]), torch.tensor([-0.3])

    linear_model = W * x + b
    loss = ((linear_model - y) ** 2).sum()     # tf.reduce_sum(tf.square(linear_model - y))
    print([f"{v:.8f}" for v in linear_model.tolist()], f"{loss.item():.4g}")

    W.fill_(-1.0)                              # tf.assign(W, [-1.])
    b.fill_(1.0)                               # tf.assign(b, [1.])
    fixed = W * x + b
    loss_fixed = ((fixed - y) ** 2).sum()
    print(loss_fixed.item())
    '''),
    md('''
    The course printed float32 values to 8 significant digits (0.3 in float32 is 0.30000001...),
    and so do we; the differences below are of that printing, not of the arithmetic.
    '''),
    code('''
    course_model = torch.tensor([0.0, 0.30000001, 0.60000002, 0.90000004])
    show_table(["figure", "the course printed", "here", "difference"], [
        ["linear_model, W = .3, b = -.3", "[0. 0.30000001 0.60000002 0.90000004]",
         " ".join(f"{v:.8f}" for v in linear_model.tolist()),
         g((linear_model - course_model).abs().max().item(), 2)],
        ["loss", 23.66, g(loss.item()), g(loss.item() - 23.66, 2)],
        ["loss, W = -1, b = 1 by hand", 0.0, loss_fixed.item(), loss_fixed.item() - 0.0],
    ])
    '''),
    code('''
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(x, linear_model, "o--", label=f"W = 0.3, b = -0.3: loss {loss.item():.4g}")
    ax.plot(x, fixed, "s-", alpha=0.6, label=f"W = -1, b = 1 (by hand): loss {loss_fixed.item():g}")
    ax.plot(x, y, "ko", ms=11, mfc="none", mew=1.5, label="the points (x, y)", zorder=3)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("Lab 3: the linear model before and after fixing W, b by hand", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    plt.show()
    '''),
]

# ---------------------------------------------------------------------------------------------
LAB4 = [
    md('''
    # Lab 4: gradient descent

    **The course (TensorFlow 1.x).** "In this lab we are going to let the model learn the
    optimal weights. To do that we use GradientDescentOptimizer with learning rate 0.01 [...]
    We iterate 1000 times, making one optimization step per iteration", on the Lab 3 loss
    `sum (W x + b - y)^2` from W = 0.3, b = -0.3, printing W, b and the loss every 100 steps and
    at the end (`W: [-0.9999969] b: [ 0.99999082] loss: 5.69997e-11`), with TensorBoard
    scalars for the three.

    **Here.** The same 1,000 steps of `torch.optim.SGD` on the course's polynomial model
    y = a_0 + a_1 x (its eq. 1; `lw.build_model` with `ModelConfig("polynomial")`, a_1 is W and
    a_0 is b) and the `lab4` dataset (the four points), float32 throughout. Every printed row of
    the course beside ours, then the loss on a log axis. This is the whole recipe at every
    scale: it takes well under a second. `layerwise lab 4` prints the same table.
    '''),
    parameters('''
    STEPS = 1000   # the course's 1,000 steps at every scale (they take well under a second)
    LR = 0.01      # GradientDescentOptimizer(0.01)
    '''),
    code(HELPERS),
    code('''
    import torch

    data = lw.load_dataset("lab4")  # x = 1..4, y = 0..-3
    model = lw.build_model(lw.ModelConfig("polynomial", (1,), 1, degree=1, init=(-0.3, 0.3)))
    a = model[0].a                  # (a_0, a_1) = (b, W)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses, rows = [], []
    for i in range(STEPS):
        loss = ((model(data.train.x) - data.train.y) ** 2).sum()  # tf.reduce_sum(tf.square(...))
        losses.append(loss.item())
        if i % 100 == 0:
            rows.append((i, a[1].item(), a[0].item(), loss.item()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = ((model(data.train.x) - data.train.y) ** 2).sum().item()
    W, b = a[1].item(), a[0].item()
    print(f"W: {W:.8f} b: {b:.8f} loss: {final:.6g}")
    '''),
    md('''
    The course's printed table (its slide "Ouput", every 100 steps and the final line) beside
    ours. W and b agree within a few float32 units in the last place (about 1e-7 near 1), which
    is how two CPUs' float32 arithmetic may differ. The loss is a sum of squared residuals;
    near 1e-10 those residuals are about 4e-6, which float32 resolves only to a few per cent,
    so the loss's relative difference grows as it falls while W and b stay as close.
    '''),
    code('''
    COURSE = [  # step, W, b, loss as the course printed them
        (0, 0.30000001, -0.30000001, 23.66), (100, -0.84079814, 0.53192717, 0.146364),
        (200, -0.95227844, 0.85969269, 0.0131513), (300, -0.98569524, 0.95794225, 0.00118168),
        (400, -0.99571204, 0.98739296, 0.000106178), (500, -0.99871469, 0.99622095, 9.54086e-06),
        (600, -0.99961472, 0.99886727, 8.57163e-07), (700, -0.99988455, 0.99966055, 7.69487e-08),
        (800, -0.99996537, 0.99989825, 6.90848e-09), (900, -0.99998957, 0.99996936, 6.24471e-10),
        ("final", -0.9999969, 0.99999082, 5.69997e-11),
    ]
    ours = rows + [("final", W, b, final)]
    show_table(["step", "W (course)", "W (here)", "b (course)", "b (here)", "loss (course)",
                "loss (here)", "largest difference of W, b", "loss: relative difference"],
               [[c[0], c[1], f"{o[1]:.8f}", c[2], f"{o[2]:.8f}", c[3], f"{o[3]:.6g}",
                 f"{max(abs(o[1] - c[1]), abs(o[2] - c[2])):.1e}", f"{o[3] / c[3] - 1:+.1e}"]
                for c, o in zip(COURSE, ours)])
    '''),
    code('''
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    left.plot(range(len(losses)), losses, label="loss (here), every step")
    left.plot([c[0] for c in COURSE[:-1]] + [STEPS], [c[3] for c in COURSE], "ko", mfc="none",
              label="loss the course printed")
    left.set_yscale("log")
    left.set_xlabel("step")
    left.set_ylabel("loss (log axis)")
    left.set_title(f"Lab 4: the loss, from {losses[0]:.4g} to {final:.3g}", fontsize=10)
    right.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="W (here)")
    right.plot([r[0] for r in rows], [r[2] for r in rows], "s-", label="b (here)")
    right.plot([c[0] for c in COURSE[:-1]], [c[1] for c in COURSE[:-1]], "k+", ms=12,
               label="W, b the course printed")
    right.plot([c[0] for c in COURSE[:-1]], [c[2] for c in COURSE[:-1]], "k+", ms=12)
    right.set_xlabel("step")
    right.set_title("W and b every 100 steps: W goes to -1, b to 1", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    plt.show()
    '''),
]

# ---------------------------------------------------------------------------------------------
LAB5 = [
    md('''
    # Lab 5: an estimator, with separate evaluation points

    **The course (TensorFlow 1.x).** "TensorFlow's tf.contrib.learn library significantly
    simplifies the training": a `tf.contrib.learn.LinearRegressor` fitted for 1,000 steps in
    batches of 4 on x = 1..4, y = 0..-3 and evaluated on points it did not see, x = 2, 5, 8, 1,
    y = -1.01, -4.1, -7, 0 ("Notice that here we are using separate training and validation
    sets"). Its log printed `loss = 4.25, step = 1`, `loss = 2.46991e-06, step = 901` and
    `Loss for final step: 6.28759e-07`; "the tensorboard events are generated automatically".

    **Here.** `lw.fit` of the degree-1 polynomial model on the `lab4` dataset, whose test split
    is the course's evaluation points: SGD at learning rate 0.05, 1,000 steps of the 4 points,
    as `layerwise lab 5` runs it. The estimator trained with its own default optimizer (FTRL in
    TensorFlow 1.x) from a shuffling input queue, so the losses are not the same numbers: both
    fall to the rounding of float32. Every step is evaluated here (`eval_every=1`, cheap on
    four points) to read the loss at the steps the course's log shows.
    '''),
    parameters('''
    STEPS = {"tiny": 200, "small": 1000, "full": 1000}[SCALE]   # the course: 1,000
    LR = 0.05          # SGD; the course's estimator used its default optimizer
    '''),
    code(HELPERS),
    code('''
    data = lw.load_dataset("lab4")
    print("training points", data.train.x.flatten().tolist(), data.train.y.flatten().tolist())
    print("evaluation points", data.test.x.flatten().tolist(), data.test.y.flatten().tolist())
    config = lw.TrainConfig(optimizer="sgd", lr=LR, batch_size=4, steps=STEPS, eval_every=1)
    result = lw.fit(lw.ModelConfig("polynomial", degree=1), data, config,
                    lw.RunConfig(device="cpu"), progress=False)
    loss = {row["step"]: row["train_loss"] for row in result.history}   # per step, batch of 4
    b, W = result.model[0].a.tolist()
    print(f"W {W:.6f}, b {b:.6f}; training loss {loss[STEPS]:.4g}, "
          f"evaluation loss {result.test_loss:.4g} ({result.train_seconds:.1f} s)")
    '''),
    md('''
    The course's log beside ours. Its first batch gave 4.25 where the four distinct points at
    W = b = 0 give 3.5: 4.25 = (0 + 4 + 4 + 9) / 4 is a batch holding y = -2 twice, which its
    shuffling queue allows. The evaluation loss was not printed by the course (its slide shows
    the call only); ours is what the line y = 1 - x leaves on those points: (0.01^2 + 0.1^2) / 4.
    '''),
    code('''
    at_901 = loss.get(901)
    show_table(["figure", "the course printed", "here", "difference"], [
        ["loss, step 1", 4.25, g(loss[1]), g(loss[1] - 4.25)],
        ["loss, step 901", 2.46991e-06, g(at_901) if at_901 is not None else "not run",
         g(at_901 - 2.46991e-06, 3) if at_901 is not None else "–"],
        [f"loss for final step ({STEPS})", 6.28759e-07, g(loss[STEPS]),
         g(loss[STEPS] - 6.28759e-07, 3)],
        ["evaluation loss", "not printed", g(result.test_loss), "–"],
    ])
    if STEPS < 1000:
        print(f"This run is shorter than the course's: {STEPS} of 1,000 steps.")
    '''),
    code('''
    import torch

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    left.plot(list(loss), list(loss.values()), label="training loss (here), every step")
    left.plot([1, 901, 1000], [4.25, 2.46991e-06, 6.28759e-07], "ko", mfc="none",
              label="the course's log (its own optimizer)")
    left.set_yscale("log")
    left.set_xlabel("step")
    left.set_ylabel("loss, mean over the batch of 4 (log axis)")
    left.set_title("Lab 5: training loss", fontsize=10)
    grid = torch.linspace(0, 9, 50)[:, None]
    with torch.no_grad():
        right.plot(grid, result.model(grid), "-", label=f"fitted: y = {W:.4f} x + {b:.4f}")
    right.plot(data.train.x, data.train.y, "ko", label="training points")
    right.plot(data.test.x, data.test.y, "rs", mfc="none", label="evaluation points")
    right.set_xlabel("x")
    right.set_ylabel("y")
    right.set_title(f"evaluation loss {result.test_loss:.4g}", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    plt.show()
    '''),
]

# ---------------------------------------------------------------------------------------------
LAB6 = [
    md('''
    # Lab 6: softmax regression on MNIST

    **The course (TensorFlow 1.x).** MNIST, "handwritten numbers, 28x28 pixels [...] 55,000
    entries training set, 10,000 test set, 5,000 validation set"; a 784 x 10 layer `W`, `b`
    into softmax, cross entropy, `GradientDescentOptimizer` at learning rate 0.5, 1,000 steps
    of 100 images; two `FileWriter`s "so that we can compare variables on training and testing
    sets", and "Also we create an image for W". "The achieved accuracy is 92%".

    **Here.** `lw.fit("softmax", ...)`, the same recipe, on `mnist-10k`, the 10,000 real MNIST
    digits shipped with layerwise (7,200 training, 800 validation, 2,000 test), from several
    seeds: one printed figure of the course is one draw of the initial batches, so our mean and
    spread is what to set beside it. The learning curves and W as ten 28 x 28 images follow.
    With `SCALE = "full"` it runs on full MNIST (the course's split;
    `lw.load_dataset("mnist")` downloads it once). The course's two TensorBoard writers:
    `lw.RunConfig(logdir="runs/lab6")` writes `train/` and `test/` event files
    (`layerwise lab 6 --logdir runs/lab6` from the command line).
    '''),
    parameters('''
    STEPS = {"tiny": 100, "small": 1000, "full": 1000}[SCALE]   # the course: 1,000 of 100
    SEEDS = {"tiny": 2, "small": 5, "full": 10}[SCALE]          # runs of the recipe
    DATASET = "mnist" if SCALE == "full" else "mnist-10k"
    '''),
    code(HELPERS),
    code('''
    import dataclasses
    import statistics

    data = lw.load_dataset(DATASET)
    print(f"{DATASET}: {len(data.train.x):,} training, {len(data.val.x):,} validation, "
          f"{len(data.test.x):,} test images")
    config = lw.TrainConfig(optimizer="sgd", lr=0.5, batch_size=100, steps=STEPS,
                            eval_every=max(STEPS // 10, 1))
    runs = []
    for seed in range(SEEDS):
        run = lw.fit("softmax", data, dataclasses.replace(config, seed=seed),
                     lw.RunConfig(device="cpu"), progress=False)
        runs.append(run)
        print(f"seed {seed}: test accuracy {run.test_accuracy:.4f} ({run.train_seconds:.1f} s)")
    accuracy = [r.test_accuracy for r in runs]
    mean = statistics.mean(accuracy)
    std = statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0
    '''),
    code('''
    show_table(["figure", "the course printed", "here", "difference", "run"], [
        ["test accuracy", "92 %", f"{100 * mean:.2f} % ± {100 * std:.2f} ({SEEDS} seeds)",
         f"{100 * (mean - 0.92):+.2f} points",
         f"{STEPS} steps of 100 on {DATASET}" + (" (the course: full MNIST)"
                                                 if DATASET != "mnist" else "")],
    ])
    if STEPS < 1000:
        print(f"This run is shorter than the course's: {STEPS} of 1,000 steps.")
    '''),
    code('''
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for k, run in enumerate(runs):
        steps = [row["step"] for row in run.history]
        left.plot(steps, [row["train_loss"] for row in run.history], "o-", ms=3,
                  color="tab:blue", alpha=0.6, label="training" if k == 0 else None)
        left.plot(steps, [row["val_loss"] for row in run.history], "s--", ms=3,
                  color="tab:orange", alpha=0.6, label="validation" if k == 0 else None)
        right.plot(steps, [row["val_accuracy"] for row in run.history], "o-", ms=3,
                   color="tab:orange", alpha=0.6, label="validation" if k == 0 else None)
    right.axhline(0.92, color="k", ls=":", label="the course's test accuracy, 92 %")
    right.plot([STEPS] * len(runs), accuracy, "k^", label="test accuracy, each seed")
    left.set_ylabel("cross entropy")
    right.set_ylabel("accuracy")
    left.set_title(f"Lab 6: softmax regression, {SEEDS} seeds", fontsize=10)
    right.set_title("accuracy: the course's line and ours", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("step")
        ax.set_xlim(0, STEPS * 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    plt.show()
    '''),
    md('''
    The course's image of W (`tf.summary.image('W', ...)`), here as ten 28 x 28 images, one per
    digit: the weights from every pixel into that digit's output. Red pixels speak for the
    digit, blue against it.
    '''),
    code('''
    W = runs[0].model[1].weight.detach()          # (10, 784): nn.Linear stores W transposed
    limit = W.abs().max().item()
    fig, axes = plt.subplots(1, 10, figsize=(12, 1.8), layout="constrained")
    for digit, ax in enumerate(axes):
        image = ax.imshow(W[digit].reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(data.classes[digit])
        ax.axis("off")
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
    fig.suptitle("W of the softmax layer, one image per digit (seed 0)", fontsize=10)
    plt.show()
    '''),
]

# ---------------------------------------------------------------------------------------------
LAB7 = [
    md('''
    # Lab 7: the CNN "deepnn"

    **The course (TensorFlow 1.x).** "Let us solve the same problem but finally use Deep
    Learning and achieve better accuracy": two 5 x 5 convolutions (32 and 64 feature maps, ReLU)
    each followed by 2 x 2 max-pooling, a fully connected layer of 1,024 with dropout 0.5, then
    10 outputs into softmax; weights from a truncated normal, biases 0.1; "AdamOptimizer with
    the learning rate of 1e-4", `for i in range(20000)`, batches of 50, printing the training
    accuracy every 100 steps. "The achieved accuracy is 99.3%", and a table of how long the
    20,000 steps took on the hardware of the day (99.1-99.3 %).

    **Here.** `lw.fit("deepnn", ...)` with the same model and recipe on `mnist-10k`, shortened:
    a few hundred steps at the default scale, so it runs in a couple of minutes on 2 CPU cores.
    The course's 20,000 steps on full MNIST is `SCALE = "full"` (or `layerwise lab 7` from the
    command line, `--dataset mnist` for full MNIST); the projection below says how long that
    takes on the machine that ran this notebook.
    '''),
    parameters('''
    STEPS = {"tiny": 10, "small": 300, "full": 20_000}[SCALE]       # the course: 20,000 of 50
    EVAL_EVERY = {"tiny": 5, "small": 50, "full": 1000}[SCALE]
    EXAMPLES = {"tiny": 500, "small": None, "full": None}[SCALE]    # None: every example
    DATASET = "mnist" if SCALE == "full" else "mnist-10k"
    '''),
    code(HELPERS),
    code(FIRST_N),
    code('''
    data = first_n(lw.load_dataset(DATASET), EXAMPLES)
    config = lw.TrainConfig(optimizer="adam", lr=1e-4, batch_size=50, steps=STEPS,
                            eval_every=EVAL_EVERY)
    result = lw.fit("deepnn", data, config, lw.RunConfig(device="cpu"),
                    progress=SCALE == "full")
    print(result.model)
    for row in result.history:  # the course printed "step %d, training accuracy %g"
        print(f"step {row['step']}, validation accuracy {row['val_accuracy']:.4f}, "
              f"training loss {row['train_loss']:.4f}")
    print(f"test accuracy {result.test_accuracy:.4f} after {result.steps} steps, "
          f"{result.train_seconds:.1f} s on {result.device}")
    '''),
    code('''
    shorter = STEPS < 20_000 or DATASET != "mnist"
    show_table(["figure", "the course printed", "here", "difference", "run"], [
        ["test accuracy", "99.3 % (text), 99.1-99.3 % (hardware table)",
         f"{100 * result.test_accuracy:.2f} %",
         f"{100 * (result.test_accuracy - 0.993):+.2f} points",
         f"{STEPS:,} steps of 50 on {len(data.train.x):,} {DATASET} digits"
         + (" (the course: 20,000 steps on 55,000 MNIST digits)" if shorter else "")],
    ])
    if shorter:
        print(f"Ours is from a shorter run: {STEPS:,} of the course's 20,000 steps"
              + ("" if DATASET == "mnist" else ", on mnist-10k instead of full MNIST") + ".")
    '''),
    code('''
    steps = [row["step"] for row in result.history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    left.plot(steps, [row["train_loss"] for row in result.history], "o-", label="training")
    left.plot(steps, [row["val_loss"] for row in result.history], "s--", label="validation")
    left.set_yscale("log")
    left.set_ylabel("cross entropy (log axis)")
    left.set_title(f"Lab 7: deepnn, Adam 1e-4, {STEPS:,} steps of 50", fontsize=10)
    right.plot(steps, [row["val_accuracy"] for row in result.history], "o-",
               color="tab:orange", label="validation accuracy")
    right.plot([STEPS], [result.test_accuracy], "k^", label="test accuracy")
    right.axhline(0.993, color="k", ls=":", label="the course: 99.3 % after 20,000 steps")
    right.set_ylabel("accuracy")
    right.set_title("accuracy beside the course's", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("step")
        ax.set_xlim(0, STEPS * 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    plt.show()
    '''),
    md('''
    The course's hardware table ("Benchmarking using Lab 7 code": seconds for the 20,000 steps)
    with this machine added. Unless the full recipe ran, our time is a projection: the seconds
    of the steps timed (evaluations included) times 20,000 / steps. The load average is printed
    with it: above the number of cores, other work shared them and the figure is pessimistic.
    '''),
    code('''
    import platform


    def cpu_name():
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "this CPU"


    HARDWARE = [  # the course's table: hardware, card, (V)RAM GB, seconds, accuracy
        ("Dell XPS 15", "GTX 960M", 2, None, "N/A"),
        ("gpu2 partition", "Tesla K80", 12, 221, "99.3%"),
        ("gpu2 partition, Singularity", "Tesla K80", 12, 326, "99.2%"),
        ("gpu2 partition, Singularity, dl", "Tesla K80", 12, 258, "99.2%"),
        ("CPP partition", "Tesla P100", 16, 132, "99.2%"),
        ("gpu partition, Singularity", "Tesla K40", 12, 397, "99.1%"),
        ("gpu partition, Singularity", "Tesla K20", 5, None, "N/A"),
        ("gpu partition, Singularity", "Tesla M2090", 6, 6162, "99.3%"),
        ("broadwl CPU, 28 cores", "N/A", 64, 1308, "99.2%"),
    ]
    ours = result.train_seconds * 20_000 / STEPS
    how = "measured" if STEPS == 20_000 else f"projected from {STEPS:,} steps"
    load = f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    here = f"this machine: {cpu_name()}, {os.cpu_count()} cores"
    show_table(["hardware", "video card", "(V)RAM (GB)", "time (s)", "accuracy"],
               [[h, c, m, "OOM" if s is None else s, a] for h, c, m, s, a in HARDWARE]
               + [[f"**{here}**", "none", "–", f"**{ours:,.0f}** ({how}; {load})",
                   f"{100 * result.test_accuracy:.1f}% after {STEPS:,} steps"]])

    ran = [(h if c == "N/A" else f"{c}, {h}", s) for h, c, _, s, _ in HARDWARE if s is not None]
    labels = [name for name, _ in ran] + [f"this machine, {os.cpu_count()} cores ({how})"]
    seconds = [s for _, s in ran] + [ours]
    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    ax.barh(labels, seconds, color=["tab:gray"] * len(ran) + ["tab:blue"])
    for k, s in enumerate(seconds):
        ax.text(s * 1.05, k, f"{s:,.0f} s", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(50, max(seconds) * 3)
    ax.invert_yaxis()
    ax.set_xlabel("seconds for the 20,000 steps (log axis)")
    fig.suptitle("Lab 7: the course's hardware table (the XPS 15 and the K20 ran out of "
                 "memory) and this machine", fontsize=10)
    plt.show()
    '''),
]

# ---------------------------------------------------------------------------------------------
LAB8 = [
    md('''
    # Lab 8: devices

    **The course (TensorFlow 1.x).** "Simple placement": operations are pinned to devices with
    `with tf.device("/gpu:1")` (a, b and c = a + b), `"/cpu:0"` (d, e and f = d * e) and
    `"/gpu:3"` (h, g and k = h / g), with `log_device_placement = True` to print where each ran;
    "By default, TF grabs all the VRAM in all available GPUs. To restrict the amount of RAM:
    `config.gpu_options.per_process_gpu_memory_fraction = 0.4`". And on soft placement: "Not all
    kernels can run on all devices [...] exception - hard placement; `allow_soft_placement =
    True` - fall back on CPU". The slides show the code, not its output.

    **Here.** A tensor is made on a `torch.device` and an operation runs where its operands
    are; there is no soft placement: operands on two devices are an error, and `.to(device)`
    moves one. This notebook runs on whatever the machine has. On a CPU-only machine every
    tensor lands on the CPU; on a machine with GPUs, a, b, c go to the course's `cuda:1` and
    h, g, k to `cuda:3` where there are that many GPUs (the last GPU otherwise), and the cells
    marked "GPU" below show the memory cap and the mixed-device error. layerwise's own code
    takes the device from `lw.RunConfig(device="auto" | "cpu" | "cuda" | "cuda:N")`.
    `layerwise lab 8` does the same from the command line.
    '''),
    parameters('''
    # Nothing in this lab depends on the scale except the short training run at the end.
    STEPS = {"tiny": 10, "small": 100, "full": 1000}[SCALE]
    MEMORY_FRACTION = 0.4   # the course's per_process_gpu_memory_fraction
    '''),
    code(HELPERS),
    code('''
    import torch

    gpus = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    cpu = torch.device("cpu")


    def gpu(index):  # the course's /gpu:N, or the nearest this machine has (the CPU if none)
        return gpus[min(index, len(gpus) - 1)] if gpus else cpu


    print("devices here:", ", ".join(["cpu"] + [str(d) for d in gpus]))
    with torch.device(gpu(1)):                     # with tf.device("/gpu:1"):
        a = torch.tensor(3.0)
        b = torch.tensor(4.0)
        c = a + b
    with torch.device(cpu):                        # with tf.device("/cpu:0"):
        d = torch.tensor(5.0)
        e = torch.tensor(7.0)
        f = d * e
    with torch.device(gpu(3)):                     # with tf.device("/gpu:3"):
        h = torch.tensor(15.0)
        g_ = torch.tensor(97.0)
        k = h / g_
    print([a.item(), b.item(), c.item()], [f.item()], [k.item()])
    '''),
    md('''
    Where each result was computed (the course's `log_device_placement`), and the values the
    course's code computes (it did not print them).
    '''),
    code('''
    show_table(["tensor", "the course placed it on", "here", "value (the course's code)",
                "value (here)", "difference"], [
        ["c = a + b", "/gpu:1", c.device, 7.0, c.item(), c.item() - 7.0],
        ["f = d * e", "/cpu:0", f.device, 35.0, f.item(), f.item() - 35.0],
        ["k = h / g", "/gpu:3", k.device, "15 / 97 = 0.15463917", f"{k.item():.8f}",
         g(k.item() - 15 / 97, 2)],
    ])
    if not gpus:
        print("No GPU here: every tensor is on the CPU, as TensorFlow's soft placement would "
              "have put it. On a GPU machine the first and last rows say cuda:N.")
    '''),
    md('''
    **GPU only.** The course capped TensorFlow at 40 % of each GPU's memory; PyTorch takes
    memory as it needs it, and the cap is `torch.cuda.set_per_process_memory_fraction`, which
    `lw.RunConfig(gpu_memory_fraction=0.4)` applies to the device a run uses (a run that needs
    more stops with an out-of-memory error). Operands on two devices are an error: PyTorch has
    no soft placement.
    '''),
    code('''
    if gpus:
        torch.cuda.set_per_process_memory_fraction(MEMORY_FRACTION, gpus[0])
        total = torch.cuda.get_device_properties(gpus[0]).total_memory
        print(f"{torch.cuda.get_device_name(gpus[0])}: this process may use "
              f"{MEMORY_FRACTION:.0%} of {total / 2**30:.1f} GiB")
        try:
            torch.ones(3, device=gpus[0]) + torch.ones(3)   # one operand on each device
        except RuntimeError as error:
            print("mixed devices:", str(error).splitlines()[0])
    else:
        print("No GPU on this machine: the memory cap and the mixed-device error need one.")
    '''),
    md('''
    layerwise's training takes its device from `RunConfig`: `"auto"` is the first GPU where
    there is one, else the CPU. A short softmax run shows where it ran.
    '''),
    code('''
    result = lw.fit("softmax", "mnist-10k", lw.TrainConfig(lr=0.5, batch_size=100, steps=STEPS),
                    lw.RunConfig(device="auto"), progress=False)
    print(f"device 'auto' trained on {result.device}: test accuracy {result.test_accuracy:.3f} "
          f"after {STEPS} steps")
    '''),
]

# ---------------------------------------------------------------------------------------------
LAB9 = [
    md('''
    # Lab 9: saving, restoring and transfer

    **The course (TensorFlow 1.x).** Saving: `saver = tf.train.Saver()` and
    `saver.save(sess, "/tmp/my_model.ckpt")` during and after training; restoring: "To train
    your own network, it is often useful to start with the pretrained network that does similar
    task [...] freeze most of the layers that are closer to inputs and train only the last few
    layers", since "the layers closer to input usually pick up more simple features [...] while
    the layers closer to the output assemble out of those features more complicated ones".
    "The working example of save/restore is given in Lab 9"; its code and output are not in the
    slides, so there are no printed figures to set ours beside.

    **Here.** deepnn (Lab 7's model) trained on the digits 0-4; `lw.save_model` writes it to a
    temporary directory and `lw.load_model` restores it (the same outputs, checked); then
    transfer: `lw.fit(..., init=path, freeze=2)` starts from those weights with the two
    convolutions frozen and trains the rest on the digits 5-9, beside the same net trained
    from scratch on 5-9 with the same recipe. `layerwise lab 9` runs the same, and
    `layerwise train --init PATH --freeze 2` is the command-line form of the transfer.
    '''),
    parameters('''
    STEPS = {"tiny": 5, "small": 150, "full": 1000}[SCALE]         # per run; three runs
    EVAL_EVERY = {"tiny": 5, "small": 25, "full": 100}[SCALE]
    EXAMPLES = {"tiny": 500, "small": None, "full": None}[SCALE]    # None: every example
    DATASET = "mnist" if SCALE == "full" else "mnist-10k"
    '''),
    code(HELPERS),
    code(FIRST_N),
    code('''
    import tempfile
    from pathlib import Path

    import torch


    def digits(data, keep):
        """The examples of `data` whose label is in `keep`, in every split (10 classes kept)."""
        keep = torch.tensor(keep)

        def part(split):
            mask = torch.isin(split.y, keep)
            return lw.Split(split.x[mask], split.y[mask])

        return dataclasses.replace(data, train=part(data.train), val=part(data.val),
                                   test=part(data.test))


    data = first_n(lw.load_dataset(DATASET), EXAMPLES)
    low, high = digits(data, [0, 1, 2, 3, 4]), digits(data, [5, 6, 7, 8, 9])
    print(f"digits 0-4: {len(low.train.x):,} training images; 5-9: {len(high.train.x):,}")
    config = lw.TrainConfig(optimizer="adam", lr=1e-3, batch_size=50, steps=STEPS,
                            eval_every=EVAL_EVERY)
    run = lw.RunConfig(device="cpu")
    base = lw.fit("deepnn", low, config, run, progress=False)
    print(f"digits 0-4: test accuracy {base.test_accuracy:.4f} ({base.train_seconds:.1f} s)")
    '''),
    md('''
    Save and restore (the course's `tf.train.Saver`). The file holds the model's configuration
    and weights, never code; `lw.load_model` rebuilds the network in eval mode. The weights come
    back identical; the outputs agree to float32 rounding, not bit for bit, because training
    left the model in channels-last memory format (faster convolutions on a CPU) and the
    restored one is in the default format, whose kernels sum in another order.
    '''),
    code('''
    folder = tempfile.TemporaryDirectory()
    path = lw.save_model(base, Path(folder.name) / "digits0-4.pt")
    restored = lw.load_model(path)
    saved = base.model.state_dict()
    same = all(torch.equal(value, saved[key]) for key, value in restored.state_dict().items())
    with torch.no_grad():
        logits, logits_restored = base.model.eval()(low.test.x), restored(low.test.x)
    largest = (logits - logits_restored).abs().max().item()
    restored_accuracy = lw.evaluate(restored, low.test, "classification")["accuracy"]
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB; weights identical: {same}; "
          f"largest difference of the outputs {largest:.1e}; test accuracy "
          f"{restored_accuracy:.4f}")
    assert same
    '''),
    code('''
    transfer = lw.fit("deepnn", high, config, run, init=str(path), freeze=2, progress=False)
    frozen = [name for name, p in transfer.model.named_parameters() if not p.requires_grad]
    scratch = lw.fit("deepnn", high, config, run, progress=False)
    print("frozen:", ", ".join(frozen))
    print(f"digits 5-9, convolutions frozen: {transfer.test_accuracy:.4f} "
          f"({transfer.train_seconds:.1f} s); from scratch: {scratch.test_accuracy:.4f} "
          f"({scratch.train_seconds:.1f} s)")
    '''),
    code('''
    show_table(["figure", "the course printed", "here"], [
        ["test accuracy on 0-4, trained", "not printed (no Lab 9 output in the slides)",
         f"{base.test_accuracy:.4f}"],
        ["the same after save and restore", "not printed", f"{restored_accuracy:.4f} "
         f"(weights identical, outputs within {largest:.0e})"],
        ["test accuracy on 5-9, convolutions frozen (transfer)", "not printed",
         f"{transfer.test_accuracy:.4f} in {transfer.train_seconds:.1f} s"],
        ["test accuracy on 5-9, from scratch", "not printed",
         f"{scratch.test_accuracy:.4f} in {scratch.train_seconds:.1f} s"],
        ["transfer minus scratch", "–",
         f"{100 * (transfer.test_accuracy - scratch.test_accuracy):+.2f} points"],
    ])
    print(f"Each run is {STEPS:,} steps of 50 on {DATASET}; `layerwise lab 9` defaults to 300.")
    '''),
    code('''
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    for result, label, style in ((transfer, "transfer: 0-4 weights, convolutions frozen", "o-"),
                                 (scratch, "from scratch", "s--")):
        ax.plot([row["step"] for row in result.history],
                [row["val_accuracy"] for row in result.history], style, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("validation accuracy on the digits 5-9")
    ax.set_xlim(0, STEPS * 1.05)
    ax.set_title(f"Lab 9: transfer vs from scratch, {STEPS:,} steps of 50 each", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    plt.show()
    '''),
    code('''
    folder.cleanup()
    '''),
]

# ---------------------------------------------------------------------------------------------
REPORT = [
    md('''
    # The report: training RBMs, and the model-parallel CD-1

    **The report.** It trains Restricted Boltzmann Machines by CD-1 and explains how to split
    one RBM over K machines: each machine computes the activities of 1/K of the hidden units
    (steps 2 and 4 of CD-1) and of 1/K of the visible units (step 3), and all machines send
    their results to all others after each step, "so that all machines move forward in
    lockstep". Hidden states are one bit each, so the exchanges are cheap; with binary visible
    units every weight that two machines both update is computed identically on both, while
    Gaussian ones need an occasional weight synchronisation ("within 10^-9"). Its Table 4.1
    prices the exchanges for an 8,000 x 20,000 RBM on 8,000 examples (48 (K - 1) MB per epoch
    for binary units), an inequality says when synchronising the weights after every update
    would send less, and its figures show that "doubling the number of machines almost doubles"
    the speed on that problem, while for MNIST (784 x 392) "after adding another machine, the
    advantage [...] disappeared". (Its text is a poor machine translation and its figures did
    not survive; the quotes are its words.)

    **Here.** In today's terms: an RBM trained by `lw.fit_rbm` on the MNIST digits shipped with
    layerwise, its filters, samples from Gibbs chains and its reconstruction error per epoch;
    the communication table beside Table 4.1; then the report's algorithm on two local ranks.
    A rank is a process, and the ranks are started by torchrun, which `layerwise launch` wraps:
    from Python that is `fit_rbm(..., parallel=lw.ParallelConfig("model"))` in every rank, so
    this notebook runs the documented command `layerwise launch --nproc-per-node 2 -- rbm train
    --parallel model ...` in a subprocess and reads back its JSON figures and checkpoint.
    '''),
    parameters('''
    HIDDEN = {"tiny": 16, "small": 200, "full": 500}[SCALE]     # hidden units of the RBM
    EPOCHS = {"tiny": 1, "small": 10, "full": 30}[SCALE]
    EXAMPLES = {"tiny": 500, "small": None, "full": None}[SCALE]   # None: all 7,200
    PERSISTENT = True            # PCD: its chains give digit-like samples (CD-1's fade)
    CHAIN_STEPS = {"tiny": (0, 1, 10), "small": (0, 1, 10, 100, 1000),
                   "full": (0, 1, 10, 100, 1000, 10_000)}[SCALE]
    # The two-rank model-parallel run: the report's MNIST RBM is 784 x 392.
    PARALLEL_HIDDEN = {"tiny": 64, "small": 392, "full": 392}[SCALE]
    PARALLEL_EPOCHS = {"tiny": 1, "small": 2, "full": 5}[SCALE]
    SYNC_EVERY = 20              # batches between weight synchronisations (the report: 80)
    '''),
    code(HELPERS),
    code(FIRST_N),
    md('''
    ## An RBM on MNIST digits

    784 binary visible units (the pixels, in [0, 1], taken as probabilities) and `HIDDEN`
    binary hidden units, trained by persistent CD with layerwise's defaults (learning rate
    0.05, momentum 0.5, weight decay 1e-4, batches of 100).
    '''),
    code('''
    data = first_n(lw.load_dataset("mnist-10k"), EXAMPLES)
    result = lw.fit_rbm(lw.RBMConfig(n_hidden=HIDDEN), data,
                        lw.CDConfig(epochs=EPOCHS, persistent=PERSISTENT),
                        lw.RunConfig(device="cpu"))
    rbm = result.rbm
    print(f"RBM {rbm.W.shape[0]} x {rbm.W.shape[1]}: test reconstruction error "
          f"{result.recon_error:.4f}, {result.epoch_seconds:.2f} s per epoch")
    '''),
    code('''
    epochs = [row["epoch"] for row in result.history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    left.plot(epochs, [row["recon_error"] for row in result.history], "o-",
              label="training (mean over the epoch's batches)")
    left.plot([epochs[-1]], [result.recon_error], "k^", label="test, after training")
    left.set_ylabel("reconstruction error (squared, per pixel)")
    left.set_title("reconstruction error per epoch", fontsize=10)
    right.plot(epochs, [row["pseudo_likelihood"] for row in result.history], "s-",
               color="tab:green", label="held-out examples")
    right.set_ylabel("pseudo-log-likelihood per pixel")
    right.set_title("pseudo-likelihood per epoch (higher is better)", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    plt.show()
    '''),
    md('''
    The filters: each hidden unit's weights `W[:, j]` from the 784 pixels, as a 28 x 28 image
    on its own grey scale (the pattern of signs is what a unit detects).
    '''),
    code('''
    from layerwise.rbm.images import filter_grid

    W = rbm.W.detach().cpu()            # (V, H): column j is hidden unit j's weights
    n = min(100, W.shape[1])
    grid = filter_grid(W, n)            # one image: the filters tiled, each scaled to [0, 1]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(grid, cmap="gray", interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"the first {n} of {W.shape[1]} filters", fontsize=10)
    plt.show()
    '''),
    md('''
    Samples: ten Gibbs chains v -> h -> v started from test digits (`RBM.gibbs`), shown after
    0, 1, 10, ... steps (the image is E[v | h] of the last step). One generator seed for every
    column, so each column continues the chains of the column before.
    '''),
    code('''
    import torch
    from layerwise.rbm.images import tile

    start = result.preprocessing(data.test.x[:10], rbm.W.dtype)     # (10, 784)
    columns = [start if steps == 0 else rbm.gibbs(start, steps, torch.Generator().manual_seed(0))
               for steps in CHAIN_STEPS]
    grid = tile(torch.stack(columns, 1).flatten(0, 1), len(CHAIN_STEPS), scale_each=False)
    fig, ax = plt.subplots(figsize=(0.8 * len(CHAIN_STEPS) + 0.6, 8))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([15 + 29 * c for c in range(len(CHAIN_STEPS))],
                  ["data" if steps == 0 else f"{steps:,}" for steps in CHAIN_STEPS])
    ax.set_yticks([])
    ax.tick_params(length=0)
    ax.set_xlabel("Gibbs steps")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title("ten chains from test digits", fontsize=10, pad=28)
    plt.show()
    '''),
    md('''
    The report's own RBM figures (filters and samples on its natural images) did not survive
    its conversion, so there is nothing printed to set these beside; its tables follow.

    ## The communication table (Table 4.1)

    Megabytes (10^6 bytes) all machines send per epoch of 8,000 examples for V = 8,000 visible
    and H = 20,000 hidden units, weight synchronisation excluded: hidden states twice per
    example (1 bit each), visible states once (1 bit binary, 32 or 64 bits Gaussian), so
    (K - 1) N (2 H + V b) / 8 bytes. Ours is `layerwise.rbm.comm`, the model that
    `layerwise rbm comm-table` prints and that the parallel runs' byte counts are checked
    against.
    '''),
    code('''
    from layerwise.rbm import comm

    problem = comm.Problem()        # the report's problem: 8000 x 20000, 8000 examples
    RANKS = (1, 2, 4, 8)
    TABLE_4_1 = {  # the report's Table 4.1, MB
        ("binary", "float32"): (0, 48, 144, 336),
        ("gaussian", "float32"): (0, 296, 888, 2072),
        ("gaussian", "float64"): (0, 552, 1656, 3864),
    }
    NAMES = {("binary", "float32"): "binary visible",
             ("gaussian", "float32"): "Gaussian visible, single precision",
             ("gaussian", "float64"): "Gaussian visible, double precision"}
    ours = {key: [comm.epoch_bytes(problem, "model", K, *key) / 1e6 for K in RANKS]
            for key in TABLE_4_1}
    rows = []
    for key, printed in TABLE_4_1.items():
        rows.append([NAMES[key] + " (report)", *printed, ""])
        rows.append([NAMES[key] + " (here)", *(g(v) for v in ours[key]),
                     g(max(abs(a - b) for a, b in zip(ours[key], printed)))])
    show_table(["data sent (MB)", *(f"K = {K}" for K in RANKS), "largest difference"], rows)
    '''),
    code('''
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    width, shown = 0.27, RANKS[1:]
    for k, key in enumerate(TABLE_4_1):
        xs = np.arange(len(shown)) + (k - 1) * width
        ax.bar(xs, ours[key][1:], width, label=NAMES[key] + " (here)")
        ax.plot(xs, TABLE_4_1[key][1:], "k_", ms=18, mew=2,
                label="the report's Table 4.1" if k == 0 else None)
    ax.set_xticks(range(len(shown)), [f"K = {K}" for K in shown])
    ax.set_yscale("log")
    ax.set_ylabel("MB sent per epoch, all machines (log axis)")
    ax.set_title("Table 4.1: 8,000 x 20,000 RBM, 8,000 examples (K = 1 sends nothing)",
                 fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    plt.show()
    '''),
    md('''
    The report's inequality: synchronising the weights after every update (instead of
    exchanging states) sends less when m h K + 4 m v K >= 4 v h, for mini-batches of m; it says
    that for this problem "the variant with K = 8 machines requires less communication [...]
    when the size of the mini-batch is large". Evaluated for three batch sizes:
    '''),
    code('''
    rows = []
    for m in (100, 1000, 2000):
        cells = []
        for K in RANKS[1:]:
            test = comm.inequality(dataclasses.replace(problem, batch_size=m), K)
            cells.append(f"{test['lhs']:,} {'>=' if test['holds'] else '<'} {test['rhs']:,}")
        rows.append([m, *cells])
    show_table(["mini-batch m", *(f"K = {K}" for K in RANKS[1:])], rows)
    print("The report: at K = 8 with a large mini-batch the variant sends less; here that is "
          "so from m = 2,000 (at m = 1,000 it does not hold for any K <= 8).")
    '''),
    md('''
    ## The report's algorithm on two local ranks

    `layerwise launch` starts two gloo ranks on this machine (one CPU thread each) that train
    one RBM with the report's model-parallel CD-1 on the binarised digits, and writes the whole
    RBM to a checkpoint. The same run in this process on one rank is the reference: with binary
    units every update is an integer sum, so two ranks must give its weights bit for bit.
    '''),
    code('''
    import json
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    work = Path(tempfile.mkdtemp(prefix="report-rbm-"))
    two_ranks = work / "two-ranks.pt"
    flags = ["--parallel", "model", "--dataset", "mnist-10k", "--binarize",
             "--hidden", str(PARALLEL_HIDDEN), "--epochs", str(PARALLEL_EPOCHS),
             "--batch-size", "100", "--sync-every", str(SYNC_EVERY)]
    command = [sys.executable, "-m", "layerwise", "launch", "--nproc-per-node", "2", "--",
               "rbm", "train", *flags, "--checkpoint", str(two_ranks), "--json"]
    print("$ layerwise launch --nproc-per-node 2 -- rbm train", " ".join(flags),
          "--checkpoint two-ranks.pt --json")
    job = subprocess.run(command, capture_output=True, text=True, timeout=900)
    print(job.stderr.strip())
    if job.returncode != 0:
        raise RuntimeError(f"the two-rank job failed ({job.returncode}); see its output above")
    *summary, last = job.stdout.strip().splitlines()
    print("\\n".join(summary))
    figures = json.loads(last)   # what --json prints: the run's figures
    parallel_rbm = lw.load_rbm(two_ranks)
    '''),
    md('''
    The reference: the same configs in this process (`fit_rbm` with a `ParallelConfig`, one
    rank, one thread), and the figures set beside the report's.
    '''),
    code('''
    reference = lw.fit_rbm(lw.RBMConfig(n_hidden=PARALLEL_HIDDEN), "mnist-10k",
                           lw.CDConfig(epochs=PARALLEL_EPOCHS, batch_size=100),
                           lw.RunConfig(device="cpu", threads=1),
                           parallel=lw.ParallelConfig("model", sync_every=SYNC_EVERY),
                           binarize=True, progress=False)
    one = reference.rbm
    gap = max((parallel_rbm.W - one.W).abs().max().item(),
              (parallel_rbm.b_vis - one.b_vis).abs().max().item(),
              (parallel_rbm.b_hid - one.b_hid).abs().max().item())
    examples = len(lw.load_dataset("mnist-10k").train.x)
    V, H, K = 784, PARALLEL_HIDDEN, figures["ranks"]
    formula = (K - 1) * examples * (2 * H + V) // 8          # the report's count, in bytes
    sent = sum(figures["sent_bytes_per_epoch"])
    drift = figures.get("sync_drift") or []       # one per weight synchronisation
    largest_drift = max(drift) if drift else None
    speedup = reference.epoch_seconds / figures["epoch_seconds"]
    show_table(["figure", "the report", "here (2 ranks)", "difference"], [
        [f"bytes sent per epoch, all ranks ({V} x {H}, {examples:,} examples)",
         f"(K - 1) N (2 H + V) / 8 = {formula:,}", f"{sent:,.0f} (measured)",
         f"{sent - formula:,.0f}"],
        ["weights of K ranks vs one (binary units)", "the same answer on every machine",
         f"largest absolute difference {gap:g}", "bit for bit" if gap == 0 else g(gap)],
        ["drift removed by a weight synchronisation", "within 1e-9",
         "none run" if largest_drift is None
         else f"{largest_drift:g} (largest of {len(drift)})", "–"],
        [f"speed-up of 2 ranks over 1 ({V} x {H})",
         "about 2 for 8000 x 20000; gone for MNIST 784 x 392",
         f"{speedup:.2f} ({reference.epoch_seconds:.2f} s vs {figures['epoch_seconds']:.2f} s "
         "per epoch)", "–"],
    ])
    print(f"This machine has {os.cpu_count()} cores shared with whatever else runs on it: the "
          "speed-up says how the exchanges cost against small products here, not what the "
          "report's machines did; the bytes and the weights are exact.")
    assert gap == 0.0 and sent == formula
    '''),
    code('''
    shutil.rmtree(work)
    '''),
]

NOTEBOOKS = {
    "lab1-constants": LAB1,
    "lab2-placeholders": LAB2,
    "lab3-variables": LAB3,
    "lab4-gradient-descent": LAB4,
    "lab5-estimator": LAB5,
    "lab6-softmax": LAB6,
    "lab7-deepnn": LAB7,
    "lab8-devices": LAB8,
    "lab9-transfer": LAB9,
    "report-rbm": REPORT,
}

# The tests check an image in each of these (the labs and the report that promise plots).
PLOTS = ("lab3-variables", "lab4-gradient-descent", "lab5-estimator", "lab6-softmax",
         "lab7-deepnn", "lab9-transfer", "report-rbm")


def build(name: str):
    """The notebook `name` without outputs (an nbformat NotebookNode)."""
    import nbformat

    cells = []
    for k, (kind, source) in enumerate(NOTEBOOKS[name]):
        cell = (nbformat.v4.new_markdown_cell if kind == "markdown"
                else nbformat.v4.new_code_cell)(source)
        cell["id"] = f"{name}-{k}"  # stable ids: regenerating changes no line that did not
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})


def execute(nb, scale: str, timeout: int = 1800):
    """Run `nb` top to bottom in a fresh python3 kernel, in a temporary directory, at `scale`."""
    from nbclient import NotebookClient

    os.environ[SCALE_VARIABLE] = scale
    with tempfile.TemporaryDirectory() as cwd:
        NotebookClient(nb, kernel_name="python3", timeout=timeout, record_timing=False,
                       resources={"metadata": {"path": cwd}}).execute()
    nb.metadata["language_info"] = {"name": "python"}  # no interpreter version in the file
    return nb


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--execute", action="store_true", help="run each notebook, keep outputs")
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME",
                        help="notebooks whose name starts with NAME (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="run but write nothing")
    args = parser.parse_args(argv)
    names = [n for n in NOTEBOOKS if args.only is None or n.startswith(tuple(args.only))]
    if not names:
        parser.error(f"no notebook starts with {' or '.join(args.only)}")
    OUT.mkdir(exist_ok=True)
    for name in names:
        nb = build(name)
        started = time.perf_counter()
        if args.execute:
            execute(nb, args.scale)
        took = f" ({time.perf_counter() - started:.0f} s at {args.scale})" if args.execute else ""
        if not args.dry_run:
            nbformat.write(nb, OUT / f"{name}.ipynb")
        print(f"{'ran' if args.dry_run else 'wrote'} notebooks/{name}.ipynb{took}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
