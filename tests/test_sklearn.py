"""layerwise.sklearn.BernoulliRBM as a drop-in for scikit-learn's: its estimator checks, pipelines,
grid search, and accuracy beside scikit-learn's own RBM."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is an optional extra")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import BernoulliRBM as SklearnRBM  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from layerwise.sklearn import BernoulliRBM  # noqa: E402

# scikit-learn's own BernoulliRBM fails exactly these: score_samples flips a random bit per
# example, so it changes when the examples are reordered or subset.
STOCHASTIC = {"check_methods_sample_order_invariance", "check_methods_subset_invariance"}


def failed_checks(estimator) -> dict[str, str]:
    results = check_estimator(estimator, on_fail=None)
    return {r["check_name"]: str(r["exception"])[:200] for r in results
            if r["status"] == "failed"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_passes_scikit_learns_estimator_checks_as_its_own_rbm_does():
    assert set(failed_checks(SklearnRBM())) == STOCHASTIC  # the reference
    assert set(failed_checks(BernoulliRBM())) == STOCHASTIC


def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split((X / 16).astype(np.float32), y, test_size=0.25, random_state=0)


def pipeline(rbm) -> Pipeline:
    return Pipeline([("rbm", rbm), ("logistic", LogisticRegression(C=10, max_iter=1000))])


def test_pipeline_accuracy_is_within_noise_of_scikit_learns_rbm():
    X_train, X_test, y_train, y_test = digits()
    scores = {}
    for cls in (SklearnRBM, BernoulliRBM):
        scores[cls] = [pipeline(cls(n_components=64, learning_rate=0.06, n_iter=10,
                                    random_state=seed)).fit(X_train, y_train)
                       .score(X_test, y_test) for seed in range(2)]
    ours, theirs = np.mean(scores[BernoulliRBM]), np.mean(scores[SklearnRBM])
    assert theirs > 0.85 and abs(ours - theirs) < 0.02, scores


def test_grid_search_clones_and_refits_it():
    X_train, _, y_train, _ = digits()
    search = GridSearchCV(pipeline(BernoulliRBM(n_iter=3, random_state=0)),
                          {"rbm__n_components": [8, 24]}, cv=2).fit(X_train[:400], y_train[:400])
    best = search.best_estimator_.named_steps["rbm"]
    assert isinstance(best, BernoulliRBM) and best.n_components in (8, 24)
    assert best.components_.shape == (best.n_components, 64)


def test_fitted_attributes_dtypes_and_the_layerwise_rbm_inside():
    X = (np.random.default_rng(0).random((50, 12)) < 0.3).astype(np.float32)
    rbm = BernoulliRBM(n_components=5, batch_size=7, n_iter=2, random_state=1).fit(X)
    assert rbm.components_.shape == (5, 12) and rbm.components_.dtype == np.float32
    assert rbm.intercept_hidden_.shape == (5,) and rbm.intercept_visible_.shape == (12,)
    assert rbm.h_samples_.shape == (7, 5) and set(np.unique(rbm.h_samples_)) <= {0.0, 1.0}
    assert rbm.n_features_in_ == 12
    H = rbm.transform(X)
    assert H.dtype == np.float32 and rbm.transform(X.astype(np.float64)).dtype == np.float64
    inner = rbm.to_rbm()
    import torch
    np.testing.assert_allclose(inner.transform(torch.from_numpy(X)).numpy(), H, rtol=1e-6)
    # The same data sparse gives the same model.
    from scipy.sparse import csr_matrix
    sparse = BernoulliRBM(n_components=5, batch_size=7, n_iter=2, random_state=1).fit(
        csr_matrix(X))
    np.testing.assert_array_equal(sparse.components_, rbm.components_)
    assert rbm.gibbs(X).shape == X.shape and set(np.unique(rbm.gibbs(X))) <= {0.0, 1.0}


def test_partial_fit_learns_and_extras_are_accepted():
    X = (np.random.default_rng(0).random((60, 10)) < 0.5).astype(np.float64)
    rbm = BernoulliRBM(n_components=4, batch_size=10, random_state=0, cd_k=2, momentum=0.5,
                       persistent=False)
    for start in range(0, 60, 10):
        rbm.partial_fit(X[start:start + 10])
    first = rbm.components_.copy()
    rbm.partial_fit(X[:10])
    assert rbm.components_.dtype == np.float64 and not np.array_equal(first, rbm.components_)
    with pytest.raises(ValueError, match="dtype"):
        BernoulliRBM(dtype="float16").fit(X)


def binary_rows(n=60, V=10, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, V)) < 0.5).astype(np.float64)


def reference_trainer(V, H, batch_size, momentum, persistent, random_state):
    """One CDTrainer from the state the estimator's first update starts at: scikit-learn's
    W ~ N(0, 0.01) from random_state, then the sampler's seed from it, chains at zero."""
    import torch

    from layerwise.rbm.model import RBM, RBMConfig
    from layerwise.rbm.train import CDConfig, CDTrainer
    rng = np.random.RandomState(random_state)
    W = rng.normal(0, 0.01, (H, V))
    rbm = RBM(RBMConfig(V, H, dtype="float64"))
    rbm.W.copy_(torch.from_numpy(W.T.copy()))
    cd = CDConfig(persistent=persistent, batch_size=batch_size, lr=0.1, momentum=momentum,
                  weight_decay=0.0, sample_visible=True,
                  seed=int(rng.randint(np.iinfo(np.int32).max)))
    trainer = CDTrainer(rbm, cd)
    trainer.chain = torch.zeros(batch_size, H, dtype=torch.float64)
    return trainer


def assert_same_state(rbm: BernoulliRBM, other: BernoulliRBM) -> None:
    for name in ("components_", "intercept_hidden_", "intercept_visible_", "h_samples_",
                 "components_velocity_", "intercept_hidden_velocity_",
                 "intercept_visible_velocity_"):
        np.testing.assert_array_equal(getattr(rbm, name), getattr(other, name), err_msg=name)


# Batches of 15 against batch_size 10: five chains beyond batch_size, which must persist too.
@pytest.mark.parametrize("momentum, persistent", [(0.5, True), (0.0, True), (0.5, False),
                                                  (0.0, False)])
def test_partial_fit_calls_are_one_uninterrupted_cd_trainer_run(momentum, persistent):
    import torch
    X = binary_rows()
    batches = [X[start:start + 15] for start in range(0, 60, 15)]
    rbm = BernoulliRBM(n_components=4, batch_size=10, random_state=3, momentum=momentum,
                       persistent=persistent)
    trainer = reference_trainer(10, 4, 10, momentum, persistent, random_state=3)
    for batch in batches:
        rbm.partial_fit(batch)
        trainer.step(torch.from_numpy(batch), error=False)
    np.testing.assert_array_equal(rbm.components_, trainer.rbm.W.T.numpy())
    np.testing.assert_array_equal(rbm.intercept_hidden_, trainer.rbm.b_hid.numpy())
    np.testing.assert_array_equal(rbm.intercept_visible_, trainer.rbm.b_vis.numpy())
    np.testing.assert_array_equal(rbm.components_velocity_, trainer.vel["W"].T.numpy())
    if persistent:
        assert rbm.h_samples_.shape == (15, 4)
        np.testing.assert_array_equal(rbm.h_samples_, trainer.chain.numpy())


def test_partial_fit_over_fits_batches_is_fit_as_in_scikit_learn():
    X = binary_rows()
    params = dict(n_components=4, batch_size=10, n_iter=2, random_state=5)
    for cls, extra in ((SklearnRBM, {}), (BernoulliRBM, {"momentum": 0.5})):  # theirs: reference
        fitted = cls(**params, **extra).fit(X)
        stepped = cls(**params, **extra)
        for _ in range(2):
            for start in range(0, 60, 10):  # fit's gen_even_slices batches
                stepped.partial_fit(X[start:start + 10])
        np.testing.assert_array_equal(stepped.components_, fitted.components_)
        np.testing.assert_array_equal(stepped.h_samples_, fitted.h_samples_)
    # fit starts afresh, whatever partial_fit left behind, and parameters stay as given.
    assert stepped.get_params() == clone(stepped).get_params() == BernoulliRBM(
        **params, momentum=0.5).get_params()
    assert_same_state(stepped.fit(X), fitted)


def test_partial_fit_continues_identically_after_a_pickle_round_trip():
    X = binary_rows(80)
    batches = [X[start:start + 10] for start in range(0, 80, 10)]
    uninterrupted = BernoulliRBM(n_components=4, batch_size=10, random_state=0, momentum=0.7)
    interrupted = BernoulliRBM(n_components=4, batch_size=10, random_state=0, momentum=0.7)
    for batch in batches[:4]:
        uninterrupted.partial_fit(batch)
        interrupted.partial_fit(batch)
    interrupted = pickle.loads(pickle.dumps(interrupted))
    assert np.abs(interrupted.components_velocity_).max() > 0
    for batch in batches[4:]:
        uninterrupted.partial_fit(batch)
        interrupted.partial_fit(batch)
    assert_same_state(interrupted, uninterrupted)


def test_private_helpers_match_scikit_learns_on_the_same_weights():
    from scipy.sparse import csr_matrix
    X = binary_rows(40, 12)
    ours = BernoulliRBM(n_components=6, batch_size=8, n_iter=3, random_state=0).fit(X)
    theirs = SklearnRBM(n_components=6)
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        setattr(theirs, name, getattr(ours, name).copy())
    np.testing.assert_array_equal(ours._mean_hiddens(X), ours.transform(X))
    np.testing.assert_allclose(ours._mean_hiddens(X), theirs._mean_hiddens(X), rtol=1e-12)
    np.testing.assert_allclose(ours._mean_hiddens(X[0]), theirs._mean_hiddens(X[0]), rtol=1e-12)
    np.testing.assert_allclose(ours._mean_hiddens(csr_matrix(X)), theirs._mean_hiddens(X),
                               rtol=1e-12)
    np.testing.assert_allclose(ours._free_energy(X), theirs._free_energy(X), rtol=1e-12)
    h = ours._sample_hiddens(X, np.random.RandomState(1))
    assert h.dtype == bool
    np.testing.assert_array_equal(h, theirs._sample_hiddens(X, np.random.RandomState(1)))
    v = ours._sample_visibles(h, np.random.RandomState(2))
    assert v.dtype == bool and v.shape == X.shape
    np.testing.assert_array_equal(v, theirs._sample_visibles(h, np.random.RandomState(2)))


def test_importing_layerwise_does_not_import_scikit_learn():
    code = ("import sys, layerwise, layerwise.rbm, layerwise.train, layerwise.data; "
            "assert 'sklearn' not in sys.modules, 'sklearn imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_small_products_run_on_one_thread_and_the_setting_is_restored(monkeypatch):
    """scikit-learn's defaults (batch 10, 64 features, 256 components) are products of ~160,000
    multiply-adds, faster on one CPU thread; fit runs them so and leaves PyTorch's thread count
    as it found it. Large problems keep it."""
    import torch

    from layerwise.device import SMALL_PRODUCT, threads_for
    from layerwise.sklearn import BernoulliRBM

    before = torch.get_num_threads()
    seen = []
    with threads_for(SMALL_PRODUCT - 1):
        seen.append(torch.get_num_threads())
    with threads_for(SMALL_PRODUCT):
        seen.append(torch.get_num_threads())
    assert seen == [1, before] and torch.get_num_threads() == before
    from layerwise.rbm.train import CDTrainer

    inside = []
    real = CDTrainer.step
    monkeypatch.setattr(CDTrainer, "step", lambda self, *a, **k: inside.append(
        torch.get_num_threads()) or real(self, *a, **k))
    X = (np.random.default_rng(0).random((40, 64)) < 0.5).astype(np.float64)
    BernoulliRBM(n_components=256, n_iter=1, random_state=0).fit(X)
    assert set(inside) == {1} and torch.get_num_threads() == before
