"""Splits, synthetic sets and batching."""

import pytest
import torch

from layerwise.data.datasets import epoch_batches, load_dataset, parse_dataset_name
from layerwise.errors import ConfigError


def test_split_is_deterministic_for_a_seed_and_disjoint():
    a = load_dataset("mnist-10k", seed=3)
    b = load_dataset("mnist-10k", seed=3)
    c = load_dataset("mnist-10k", seed=4)
    assert (len(a.train), len(a.val), len(a.test)) == (7200, 800, 2000)
    assert torch.equal(a.val.x, b.val.x) and not torch.equal(a.val.x, c.val.x)
    # Validation and train are disjoint and together make the 8,000 training images.
    flat = torch.cat([a.train.x, a.val.x]).flatten(1)
    assert torch.unique(flat, dim=0).shape[0] == torch.unique(
        load_dataset("mnist-10k", val_size=0).train.x.flatten(1), dim=0).shape[0]


def test_synthetic_sets_are_seeded():
    r1 = load_dataset("random-binary:n=50,visible=30,p=0.25", seed=1)
    r2 = load_dataset("random-binary:n=50,visible=30,p=0.25", seed=1)
    assert torch.equal(r1.train.x, r2.train.x)
    assert set(r1.train.x.unique().tolist()) <= {0.0, 1.0}
    assert len(r1.train) + len(r1.val) == 50 and r1.train.x.shape[1] == 30
    assert abs(float(r1.train.x.mean()) - 0.25) < 0.08


def test_regression_follows_its_polynomial():
    d = load_dataset("regression:n=400,degree=2,coef=1/0/-2,noise=0", seed=0)
    x, y = d.train.x, d.train.y
    assert torch.allclose(y, 1 - 2 * x**2, atol=1e-5)


def test_lab4_points_are_the_course_s():
    d = load_dataset("lab4")
    assert d.train.x.flatten().tolist() == [1, 2, 3, 4]
    assert d.train.y.flatten().tolist() == [0, -1, -2, -3]
    assert d.val is None


@pytest.mark.parametrize("text", ["random-binary:n", "random-binary:bogus=3", "regression:n=x"])
def test_bad_options_are_config_errors(text):
    with pytest.raises(ConfigError):
        load_dataset(text)


def test_parse_dataset_name():
    assert parse_dataset_name("random-binary:n=8,visible=4") == (
        "random-binary", {"n": "8", "visible": "4"})
    assert parse_dataset_name("mnist") == ("mnist", {})


@pytest.mark.parametrize("n, batch, drop", [(10, 3, False), (10, 3, True), (9, 3, False)])
def test_epoch_batches_are_a_permutation(n, batch, drop):
    g = torch.Generator().manual_seed(0)
    parts = list(epoch_batches(n, batch, g, drop_last=drop))
    seen = torch.cat(parts)
    assert len(seen) == (n - n % batch if drop else n) and len(set(seen.tolist())) == len(seen)
    assert all(len(p) == batch for p in parts[:-1])
    again = torch.cat(list(epoch_batches(n, batch, torch.Generator().manual_seed(0), drop)))
    assert torch.equal(seen, again)
