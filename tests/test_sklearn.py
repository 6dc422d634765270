"""layerwise.sklearn.BernoulliRBM as a drop-in for scikit-learn's: its estimator checks, pipelines,
grid search, and accuracy beside scikit-learn's own RBM."""

import subprocess
import sys

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is an optional extra")

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


def test_importing_layerwise_does_not_import_scikit_learn():
    code = ("import sys, layerwise, layerwise.rbm, layerwise.train, layerwise.data; "
            "assert 'sklearn' not in sys.modules, 'sklearn imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
