"""What the course did and printed in each lab, in its words, and ours set beside it.

`about(N, opts)` is the header of a lab ("The course: ..." / "Here: ..."), `COURSE[N]` the
figures the course printed, `beside_the_course(N, figures)` the rows comparing them with ours
(difference and verdict), `table_lines` those rows as text, with the notes they refer to.
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple

from layerwise.lab_options import COURSE_STEPS, LabOptions

WIDTH = 100  # header lines are wrapped at this many characters

# What each lab runs, in one line (the first line `layerwise lab N` prints).
RECIPES = {
    1: "constants and an addition (the course's graph and session, as eager tensors)",
    2: "an adder applied to numbers and vectors (the course's placeholders)",
    3: "a linear model W x + b and its squared loss, before and after fixing W, b by hand",
    4: "W x + b fitted by gradient descent, lr 0.01, 1,000 steps on x = 1..4, y = 0..-3",
    5: "the same linear regression as an estimator, train and separate evaluation points",
    6: "softmax regression: SGD lr 0.5 (the course's GradientDescentOptimizer on "
       "mini-batches of 100), 1,000 steps",
    7: "deepnn: conv 5x5x32, pool, conv 5x5x64, pool, fc 1024, dropout 0.5; Adam 1e-4, "
       "20,000 steps of 50",
    8: "tensors placed on devices explicitly, and a GPU memory cap",
    9: "save and restore deepnn, then transfer: digits 0-4 -> 5-9 with the convolutions frozen",
}

# What the course's slides show for each lab: its code and what it printed, quoted.
SAID = {
    1: 'node3 = tf.add(node1, node2) of constants 3.0 and 4.0 builds a graph; "Nodes are '
       'evaluated only in session", so print(node1, node2, node3) shows three Tensor objects, '
       'then sess.run printed [3.0, 4.0] and "sess.run(node3): 7.0".',
    2: 'placeholders a and b are "substituted by any data via dictionary": adder_node = a + b '
       "run on {a: 3, b: 4.5} and on {a: [1,3], b: [2, 4]}, and add_and_triple = adder_node * "
       "3. on the first, printed the output 7.5 [3. 7.] 22.5.",
    3: "Variables W = [.3], b = [-.3], linear_model = W * x + b and loss = "
       "reduce_sum(square(linear_model - y)) on x = [1,2,3,4], y = [0,-1,-2,-3], then "
       "tf.assign(W, [-1.]), tf.assign(b, [1.]); printed [ 0. 0.30000001 0.60000002 "
       "0.90000004], 23.66, 0.0.",
    4: '"GradientDescentOptimizer with learning rate 0.01"; "We iterate 1000 times, making one '
       'optimization step per iteration" on those four points, printing W, b and the loss '
       "every 100 steps, last W: [-0.9999969] b: [ 0.99999082] loss: 5.69997e-11.",
    5: "tf.contrib.learn.LinearRegressor fitted for 1,000 steps on batches of 4 of x_train, "
       'then evaluated on x_eval = [2, 5, 8, 1], y_eval = [-1.01, -4.1, -7, 0] ("separate '
       'training and validation sets"); its log printed "loss = 4.25, step = 1", "loss = '
       '2.46991e-06, step = 901", "Loss for final step: 6.28759e-07".',
    6: "softmax regression on MNIST (55,000 training, 5,000 validation, 10,000 test digits), "
       "W and b initialised to zero, cross entropy, tf.train.GradientDescentOptimizer; "
       '"The achieved accuracy is 92%".',
    7: "deepnn: 5x5 convolutions to 32 and 64 maps, each with 2x2 max pooling, fc 1024 with "
       'dropout 0.5, "AdamOptimizer with the learning rate of 1e-4", 20,000 steps of '
       "mnist.train.next_batch(50); its hardware table gives 99.1-99.3% test accuracy (99.2% "
       "on a 28-core CPU in 1,308 s).",
    8: 'tf.device("/gpu:1") for a, b, c = a + b, "/cpu:0" for d, e, f = d*e, "/gpu:3" for h, '
       "g, k = h/g, printed with log_device_placement; per_process_gpu_memory_fraction = 0.4 "
       "caps the GPU memory a process takes. The slides show no output for this lab.",
    9: "save with tf.train.Saver, restore, and \"start with the pretrained network that does "
       'similar task": "freeze most of the layers that are closer to inputs and train only '
       'the last few layers". The slides show no figures for Lab 9.',
}


def _here(number: int, opts: LabOptions) -> str:
    """What this run does, in a sentence (labs 4-9 depend on the options)."""
    steps = opts.steps_for(number) if number in (4, 5, 6, 7, 9) else 0
    length = f"{steps:,} steps" + (f" (of the course's {COURSE_STEPS[number]:,})"
                                   if number in COURSE_STEPS and steps < COURSE_STEPS[number]
                                   else "")
    dataset = opts.dataset or "mnist-10k"
    where = "on mnist-10k (the 10,000 digits shipped with layerwise; the course used full " \
            "MNIST)" if dataset == "mnist-10k" else f"on {dataset}"
    seeds = f", from seeds {opts.seed}-{opts.seed + opts.seeds - 1}" if opts.seeds > 1 else ""
    return {
        1: "eager tensors: node3 = node1 + node2 is computed at once, so the same prints show "
           "values.",
        2: "a Python function of tensors takes the place of the placeholders.",
        3: "the same float32 tensors; W and b are fixed in place.",
        4: f"torch.optim.SGD, lr 0.01, on all four points every step; the loss is their sum of "
           f"squares, as the course's reduce_sum; {length}.",
        5: f"the same line fitted by SGD, lr 0.05, on batches of the 4 points, {length}; the "
           "losses are mean squared errors, as the estimator's; eval loss on the 4 separate "
           "points.",
        6: f"SGD lr 0.5 on mini-batches of 100, {length} {where}{seeds}, evaluated on the "
           "validation digits every 100 steps.",
        7: f"the same net and recipe in PyTorch (Adam 1e-4, batches of 50), {length} {where}"
           f"{seeds}, evaluated on the validation digits {_evaluations(steps)}.",
        8: "tensors created with device=: the course's /gpu:1 is the first GPU, /gpu:3 the "
           "last, /cpu:0 the CPU; where there is no GPU, all three go to the CPU.",
        9: f"deepnn (Adam 1e-3, batches of 50) trained three times, {length} each, {where}: "
           '"digits 0-4" from random weights, saved and restored; "transfer": the restored '
           'net on digits 5-9 with its two convolutions frozen; "from scratch": a fresh net '
           "on digits 5-9.",
    }[number]


def lab7_eval_every(steps: int) -> int:
    """Lab 7 evaluates every 1,000 steps, or ten times in a shorter run but not more often than
    every 100 steps (the course's printing interval): 800 validation digits take as long as
    a step or two, and a short run would spend half its time evaluating."""
    return min(1000, max(100, steps // 10))


def _evaluations(steps: int) -> str:
    every = lab7_eval_every(steps)
    return "at the end" if every >= steps else f"every {every:,} steps"


def about(number: int, opts: LabOptions) -> list[str]:
    """The header of lab `number`: what the course did and what this run does."""
    return [*wrap(f"The course: {SAID[number]}"), *wrap(f"Here: {_here(number, opts)}")]


def wrap(text: str) -> list[str]:
    """`text` in lines of at most WIDTH characters, the lines after the first indented."""
    return textwrap.wrap(text, WIDTH, subsequent_indent="  ", break_on_hyphens=False)


F32 = "within float32 rounding"


class Printed(NamedTuple):
    """A figure the course printed: the key of the lab's figures it compares with, the value,
    what it is in words, how close ours must be to agree (`tolerance`, said `within`), and
    the note that says why ours may differ more."""

    figure: str
    value: float | list
    label: str
    tolerance: float = 0.0
    within: str = "agrees"
    note: str = ""


LAB5_NOTE = (
    "The course's LinearRegressor trained with its default optimizer, FTRL at learning rate "
    "0.2, whose per-weight step shrinks as squared gradients accumulate, and logged its last "
    "batch's loss, still falling (2.46991e-06 at step 901); SGD at a fixed lr 0.05 on the same "
    "points shrinks the loss about 20-fold every 100 steps, to near float32 rounding (ours is "
    "the mean over the last 100 steps).")
LAB7_NOTE = ("The course's 99.2% is its hardware table's CPU row (its rows give 99.1-99.3%, "
             'its text "99.3%"), after 20,000 steps on full MNIST.')

COURSE = {
    1: [Printed("node3", 7.0, "sess.run(node3)")],
    2: [Printed("add", 7.5, "a + b, 3 and 4.5"),
        Printed("add_vector", [3.0, 7.0], "a + b, [1,3] and [2,4]"),
        Printed("add_and_triple", 22.5, "(a + b) * 3")],
    # The course printed 8 significant digits of float32 values (23.66 is 23.659999847...).
    3: [Printed("linear_model", [0.0, 0.30000001, 0.60000002, 0.90000004], "linear_model",
                5e-7, F32),
        Printed("loss", 23.66, "loss, W .3, b -.3", 3e-6, F32),
        Printed("loss_fixed", 0.0, "loss, W -1, b 1")],
    # Float32 gradient descent: the last bits depend on the CPU's kernels (up to 1.2e-7 for b,
    # a few float32 ulps of values near 1); the final loss is rounding noise near 0.
    4: [Printed("W", -0.9999969, "W", 5e-7, F32),
        Printed("b", 0.99999082, "b", 5e-7, F32),
        Printed("loss", 5.69997e-11, "loss (sum of squares)", 1e-10, F32)],
    5: [Printed("train_loss", 6.28759e-07, "train loss", note=LAB5_NOTE)],
    # "92 %": two places, so ours agrees within half a point.
    6: [Printed("test_accuracy", 0.92, "test accuracy", 0.005)],
    7: [Printed("test_accuracy", 0.992, "test accuracy", 0.001, note=LAB7_NOTE)],
}
FULL_MNIST = (6, 7)  # labs whose printed figure is on full MNIST


def _shortfall(number: int, figures: dict) -> list[str]:
    """Why this run is not the course's: fewer or more steps, another dataset."""
    why = []
    steps, course = figures.get("steps"), COURSE_STEPS.get(number)
    if course is not None and steps is not None and steps < course:
        why.append(f"{steps:,} of the course's {course:,} steps")
    elif course is not None and steps is not None and steps > course:
        why.append(f"{steps:,} steps, the course's {course:,}")
    if number in FULL_MNIST and figures.get("dataset") != "mnist":
        why.append(f"{figures.get('dataset')}, not full MNIST")
    return why


def beside_the_course(number: int, figures: dict) -> list[dict]:
    """Rows of (figure, the course's value, ours, difference, verdict) for what the course
    printed. The verdict is "agrees" (equal), the figure's tolerance words ("within float32
    rounding"), or "lower"/"higher", followed by what makes this run not the course's (fewer
    steps, another dataset) and "see note" where the figure has a note."""
    rows, why = [], _shortfall(number, figures)
    for p in COURSE.get(number, []):
        ours = figures[p.figure]
        if isinstance(p.value, list):
            diff = max(abs(a - b) for a, b in zip(ours, p.value, strict=True))
        else:
            diff = ours - p.value
        close = abs(diff) <= p.tolerance
        words = "agrees" if diff == 0 else p.within if close else \
            "lower" if diff < 0 else "higher"
        reasons = why + (["see note"] if p.note and not close else [])
        label = p.label + (f", mean of {len(figures['test_accuracy_seeds'])} seeds"
                           if "test_accuracy_seeds" in figures and p.figure == "test_accuracy"
                           else "")
        rows.append({"figure": p.figure, "course": p.value, "here": ours, "difference": diff,
                     "label": label, "verdict": words + (f": {', '.join(reasons)}"
                                                         if reasons else ""),
                     **({"note": p.note} if p.note and not close else {})})
    return rows


def table_lines(number: int, rows: list[dict], dataset: str | None = None) -> list[str]:
    """The rows as a table, then each note a row refers to and, for the labs the course ran
    on full MNIST, how to run them on it."""
    if not rows:
        return []
    width = max(18, *(len(r["label"]) for r in rows))
    cell = max(14, *(len(_value(r[k])) for r in rows for k in ("course", "here")))
    lines = [f"{'beside the course':<{width}} {'course':>{cell}} {'here':>{cell}} "
             f"{'difference':>11}  verdict"]
    lines += [f"{r['label']:<{width}} {_value(r['course']):>{cell}} {_value(r['here']):>{cell}} "
              f"{r['difference']:>+11.3g}  {r['verdict']}" for r in rows]
    for note in dict.fromkeys(r["note"] for r in rows if "note" in r):
        lines += wrap(f"note: {note}")
    if number in FULL_MNIST and dataset != "mnist":
        lines.append(f"(the course's figure is on full MNIST; this ran on {dataset}: "
                     "--dataset mnist, see `data import`)")
    return lines


def _value(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(f"{x:.3g}" for x in v) + "]"
    return f"{v:.8g}"
