"""The front door as a Keras or PyTorch user meets it: their own data, their own modules,
predict, save and load, schedules, and one sentence for data that cannot be used."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import layerwise as lw
from layerwise.errors import DataTypeError, DataValueError, LayerwiseError
from layerwise.train.evaluation import evaluate_checkpoint, learning_curve

RUN = lw.RunConfig(device="cpu")
QUICK = lw.TrainConfig(steps=4, batch_size=50, seed=3)


class SmallNet(nn.Module):
    """A user's module: flatten, one hidden layer with dropout, logits."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(),
                                 nn.Dropout(0.3), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.net(x)


@pytest.fixture(scope="module")
def mnist():
    """600 training images as uint8 (N, 28, 28) NumPy and int64 labels, 100 more to test."""
    data = lw.load_dataset("mnist-10k", progress=False)
    x = (data.train.x[:700, 0] * 255).round().to(torch.uint8).numpy()
    y = data.train.y[:700].numpy()
    return x[:600], y[:600], x[600:], y[600:]


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))


# --- data in the forms users have ----------------------------------------------------------

def test_numpy_tensors_tensordataset_and_dataloader_train_the_same_model(mnist):
    x, y, *_ = mnist
    xt, yt = torch.from_numpy(x).float().div(255), torch.from_numpy(y)
    forms = {"numpy": (x, y), "tensors": (xt, yt), "TensorDataset": TensorDataset(xt, yt),
             "DataLoader": DataLoader(TensorDataset(xt, yt), batch_size=64)}
    results = {k: lw.fit("softmax", v, QUICK, RUN, progress=False) for k, v in forms.items()}
    first = results["numpy"]
    assert first.input_shape == (1, 28, 28) and first.classes == tuple(map(str, range(10)))
    assert first.model[-1].out_features == 10 and first.test == {}
    assert "val_accuracy" in first.history[-1]  # a tenth held out, as for named datasets
    for name, result in results.items():  # uint8 / 255 and a DataLoader read into tensors
        assert same_weights(result.model, first.model), name


def test_validation_data_is_what_the_history_reports(mnist):
    x, y, xv, yv = mnist
    result = lw.fit("softmax", (x, y), QUICK, RUN, validation_data=(xv, yv), progress=False)
    held = lw.evaluate(result.model, lw.Split(torch.from_numpy(xv).float().div(255)[:, None],
                                              torch.from_numpy(yv)), "classification")
    assert result.history[-1]["val_loss"] == pytest.approx(held["loss"], rel=1e-6)


def test_a_streamed_dataloader_trains_batch_by_batch(mnist):
    x, y, xv, yv = mnist
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=30)
    result = lw.fit("mlp", loader, lw.TrainConfig(epochs=1), RUN, stream=True,
                    validation_data=DataLoader(TensorDataset(torch.from_numpy(xv),
                                                             torch.from_numpy(yv)), 50),
                    progress=False)
    assert result.steps == 20 and "val_accuracy" in result.history[-1]  # 600 / 30 per epoch


def test_a_hand_built_dataset_without_classes_gets_them_from_its_labels(mnist):
    x, y, xv, yv = mnist
    train = lw.Split(torch.from_numpy(x).float()[:, None] / 255, torch.from_numpy(y))
    test = lw.Split(torch.from_numpy(xv).float()[:, None] / 255, torch.from_numpy(yv))
    result = lw.fit("softmax", lw.Dataset("mine", "classification", train, None, test),
                    QUICK, RUN, progress=False)
    assert result.model[-1].out_features == 10 and 0 <= result.test_accuracy <= 1


def test_float_targets_regress(mnist):
    X = np.linspace(-1, 1, 200)[:, None]
    result = lw.fit("polynomial", (X, 2 * X[:, 0] ** 2), lw.TrainConfig(steps=3, lr=0.1), RUN,
                    progress=False)
    assert result.task == "regression" and result.predict(X).shape == (200,)
    with pytest.raises(LayerwiseError, match="predict_proba gives class probabilities"):
        result.predict_proba(X)


# --- one sentence for data that cannot be used --------------------------------------------

def bad_cases(mnist):
    x, y, *_ = mnist
    nan = x.astype("float32")
    nan[3, 4, 5] = np.nan
    objects = np.empty(2, dtype=object)
    objects[:] = [np.zeros(3), np.zeros(4)]
    return [  # (model, data, extra kwargs, built-in type, words in the message)
        ("softmax", (objects, np.zeros(2, int)), {}, TypeError, "X is an array of Python objects"),
        ("softmax", ([[1.0, 2.0], [3.0]], [0, 1]), {}, ValueError, "X is ragged"),
        ("softmax", (x, y[:10]), {}, ValueError, "600 examples in X but 10 targets in y"),
        ("softmax", (nan, y), {}, ValueError, "X contains NaN"),
        ("softmax", (x, y.astype(str)), {}, TypeError, "y holds text (dtype <U21), not numbers"),
        ("softmax", (x[:0], y[:0]), {}, ValueError, "X must hold at least one example"),
        ("softmax", (x, y + 0.5), {}, ValueError, "which is not a whole number: class labels"),
        ("softmax", (x, y - 1), {}, ValueError, "y holds the negative label -1"),
        ("deepnn", (x.reshape(600, -1), y), {}, ValueError, "X.reshape(-1, 1, 28, 28)"),
        ("softmax", TensorDataset(torch.zeros(3, 2)), {}, ValueError, "TensorDataset of 1"),
        ("softmax", (x, y), {"validation_data": (x, y[:5])}, ValueError, "validation_data has"),
        ("softmax", {"x": x}, {}, TypeError, "data must be a dataset name"),
        (SmallNet(), (x[:, :10], y), {}, ValueError, "the model cannot take the data's"),
    ]


def test_unusable_data_is_one_sentence_naming_the_argument(mnist):
    for model, data, kwargs, builtin, words in bad_cases(mnist):
        with pytest.raises(LayerwiseError) as caught:
            lw.fit(model, data, QUICK, RUN, progress=False, **kwargs)
        error = caught.value
        assert isinstance(error, builtin) and isinstance(error, DataValueError | DataTypeError)
        assert words in str(error), (words, str(error))
        assert "\n" not in str(error) and str(error).endswith(".")


# --- predict -------------------------------------------------------------------------------

def test_predict_takes_each_image_layout_and_returns_what_it_was_given(mnist):
    x, y, xv, _ = mnist
    result = lw.fit("deepnn", (x, y), QUICK, RUN, progress=False)
    expected = result.predict(xv)  # uint8 (N, 28, 28) NumPy
    assert isinstance(expected, np.ndarray) and expected.dtype == np.int64
    assert expected.shape == (100,)
    as_float = torch.from_numpy(xv).float() / 255
    layouts = [xv.reshape(100, -1), as_float, as_float[:, None], as_float.reshape(100, 784)]
    for layout in layouts:
        got = result.predict(layout, batch_size=33)
        assert type(got) is type(layout) and np.array_equal(np.asarray(got), expected)
    proba = result.predict_proba(xv)
    assert proba.shape == (100, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert np.array_equal(proba.argmax(1), expected)
    result.model.train()
    result.predict(xv[:3])
    assert result.model.training  # predict leaves the mode as it found it
    with pytest.raises(DataValueError, match="channels-last") as caught:
        lw.fit("deepnn", (np.zeros((4, 3, 8, 8), "float32"), np.arange(4)), QUICK, RUN,
               progress=False).predict(np.zeros((2, 8, 8, 3), "float32"))
    assert isinstance(caught.value, ValueError)


# --- save, load, resume ----------------------------------------------------------------------

def test_save_and_load_each_kind_of_model(mnist, tmp_path):
    x, y, xv, _ = mnist
    course = lw.fit("softmax", (x, y), QUICK, RUN, progress=False)
    user = lw.fit(SmallNet(), (x, y), QUICK, RUN, progress=False)
    wide = SmallNet(hidden=24)
    dbn = lw.train_dbn((x, y), (16,), lw.CDConfig(epochs=1), run=RUN, progress=False)
    saved = {"course": (course, course.model), "user": (user, user.model),
             "module": (wide, wide), "dbn": (dbn, dbn.network)}
    inputs = torch.from_numpy(xv).float()[:, None] / 255
    for name, (thing, net) in saved.items():
        path = lw.save_model(thing, tmp_path / f"{name}.pt",
                             **({"init_args": {"hidden": 24}} if name == "module" else {}))
        loaded = lw.load_model(path)
        assert not loaded.training and same_weights(loaded, net), name
        net.eval()
        feed = inputs.flatten(1) if name == "dbn" else inputs
        assert torch.equal(loaded(feed), net(feed)), name
    into = lw.load_model(tmp_path / "user.pt", module=SmallNet())
    assert same_weights(into, user.model)


def test_a_module_that_cannot_be_rebuilt_says_to_pass_it(tmp_path):
    class Local(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.fc = nn.Linear(width, 2)

    path = lw.save_model(Local(3), tmp_path / "local.pt")
    with pytest.raises(LayerwiseError, match=r"load_model\(path, module=Local"):
        lw.load_model(path)
    assert lw.load_model(path, module=Local(3)).fc.in_features == 3


def resumable(checkpoint, run, steps, **kwargs):
    cfg = lw.TrainConfig(steps=steps, batch_size=40, eval_every=3, seed=5)
    return lw.fit(kwargs.pop("model"), kwargs.pop("data"), cfg, run, checkpoint=checkpoint,
                  progress=False, **kwargs)


@pytest.mark.parametrize("with_schedule", [False, True])
def test_user_module_resumed_from_a_checkpoint_equals_the_uninterrupted_run(
        mnist, tmp_path, with_schedule):
    x, y, *_ = mnist
    schedule = {"lr_scheduler": lambda opt: torch.optim.lr_scheduler.StepLR(opt, 2, 0.5)} \
        if with_schedule else {}
    torch.manual_seed(0)
    whole = resumable(None, RUN, 8, model=SmallNet(), data=(x, y), **schedule)
    torch.manual_seed(0)
    resumable(tmp_path / "c.pt", RUN, 5, model=SmallNet(), data=(x, y), **schedule)
    resumed = lw.fit(SmallNet(), (x, y), lw.TrainConfig(steps=8, batch_size=40, eval_every=3,
                                                         seed=5),
                     lw.RunConfig(device="cpu", resume=str(tmp_path / "c.pt")),
                     progress=False, **schedule)
    assert resumed.steps == 8 and same_weights(resumed.model, whole.model)
    assert resumed.history[-1] == whole.history[-1]


def test_a_schedule_changes_the_rate_once_per_step(mnist):
    x, y, *_ = mnist
    seen = []

    class Spy(torch.optim.lr_scheduler.StepLR):
        def step(self, *args):
            super().step(*args)
            seen.append(self.get_last_lr()[0])

    lw.fit("softmax", (x, y), QUICK, RUN, lr_scheduler=lambda opt: Spy(opt, 1, 0.5),
           progress=False)
    assert seen[1:] == pytest.approx([1e-3 * 0.5 ** k for k in range(1, 5)])


# --- typed results ---------------------------------------------------------------------------

def test_dbn_evaluation_and_learning_curve_return_typed_results(mnist, tmp_path):
    x, y, xv, _ = mnist
    dbn = lw.train_dbn((x, y), (16,), lw.CDConfig(epochs=1), run=RUN, progress=False)
    assert isinstance(dbn, lw.DBNResult) and len(dbn.rbms) == 1
    assert list(dbn.to_dict()) == ["layers", "pretrain_seconds", "dbn_accuracy",
                                   "dbn_finetune_seconds", "random_init_accuracy",
                                   "random_init_finetune_seconds", "dataset", "device"]
    assert dbn.predict(xv).shape == (100,)
    lw.save_model(lw.fit("softmax", "mnist-10k", QUICK, RUN, progress=False), tmp_path / "m.pt")
    evaluation = evaluate_checkpoint(tmp_path / "m.pt", "mnist-10k", RUN)
    assert list(evaluation.to_dict()) == ["model", "dataset", "device", "steps",
                                          "test_loss", "test_accuracy"]
    curve = learning_curve("softmax", (x, y), QUICK, [50, 100], str(tmp_path), RUN,
                           progress=False)
    assert [r["train_size"] for r in curve.to_dict()["curve"]] == [50, 100]


def test_a_sequential_of_torch_layers_is_rebuilt_layer_by_layer(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                        nn.LeakyReLU(0.2), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.25),
                        nn.Linear(4 * 14 * 14, 10)).eval()
    loaded = lw.load_model(lw.save_model(net, tmp_path / "seq.pt"))
    assert [type(m) for m in loaded] == [type(m) for m in net]
    assert loaded[0].bias is None and loaded[2].negative_slope == 0.2
    assert loaded[3].kernel_size == 2 and loaded[5].p == 0.25
    x = torch.randn(3, 1, 28, 28)
    assert same_weights(loaded, net) and torch.equal(loaded(x), net(x))


def test_a_sequential_holding_an_unrecordable_module_asks_for_the_module(tmp_path):
    class Scale(nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.w = nn.Parameter(torch.full((int(factor),), 1.0))

    path = lw.save_model(nn.Sequential(nn.Linear(3, 2), Scale(2)), tmp_path / "s.pt")
    with pytest.raises(LayerwiseError, match=r"could not be recorded.*module=Sequential"):
        lw.load_model(path)
