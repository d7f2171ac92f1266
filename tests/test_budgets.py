"""Budgets that hold on a busy machine (issue 32, item 3): the first trial is stoppable, a trial scored on fewer
folds is kept and marked, and booster threads are sized to the table and the free cores.

No wall-clock assertions: each test makes the budget impossible to meet with a full CV (a fit that sleeps, a booster
with a hundred thousand rounds) and checks what the search did about it."""
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from mltrain_nb import algorithms as malgo
from mltrain_nb.engine import MLTrainingEngine, fit_threads


class SlowClassifier(ClassifierMixin, BaseEstimator):
    "A majority-class classifier whose fit sleeps `delay` seconds: a fold that cannot be made faster."
    def __init__(self, delay=0.4, strength=1.0):
        self.delay, self.strength = delay, strength

    def fit(self, X, y):
        time.sleep(self.delay)
        self.classes_, counts = np.unique(np.asarray(y), return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


@pytest.fixture
def slow_algorithm():
    malgo.register_algorithm("slow_prior", SlowClassifier, "classification",
                             space={"strength": {"float": [0.1, 1.0]}}, overwrite=True)
    yield "slow_prior"
    malgo.unregister_algorithm("slow_prior")


@pytest.fixture
def table():
    from sklearn.datasets import load_breast_cancer
    bc = load_breast_cancer(as_frame=True)
    return bc.frame.drop(columns="target"), pd.Series(np.asarray(bc.target_names)[bc.target], name="diagnosis")


def engine(cv=5):
    return MLTrainingEngine(cv=cv, progress=False, random_state=0, tracking={"enabled": False},
                            split={"test_size": 0.2})


def test_first_trial_ends_between_folds(slow_algorithm, table):
    "5 folds of 0.4 s do not fit in 1 s: the first trial is scored on the folds it had, kept and marked."
    X, y = table
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = engine().tune(X, y, slow_algorithm, n_trials=50, timeout=1.0)
    best = r.study.best_trial
    assert best.number == 0 and best.state.name == "COMPLETE"
    scored = best.user_attrs["folds_scored"]
    assert 1 <= scored < 5 and best.user_attrs["folds_total"] == 5
    assert r.result.tuning["folds_scored"] == scored
    assert len(r.result.cv_scores[r.metric]["folds"]) == scored      # the refit's CV: the folds the trial scored
    assert any("of 5 folds" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert len(r.study.trials) <= 2        # no second trial started once the first was cut (an enqueued one waits)
    assert r.predict(X.head(3)).shape == (3,)


def test_first_booster_stops_between_rounds(table):
    "A first trial of 100,000 boosting rounds is stopped inside its first fold, scored at the round it reached."
    X, y = table
    space = {"n_estimators": {"int": [100_000, 100_001]}, "learning_rate": {"float": [0.001, 0.0011]},
             "num_leaves": {"int": [31, 32]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = engine().tune(X, y, "lightgbm", n_trials=20, timeout=1.5, search_space=space)
    first = r.study.trials[0]
    assert first.state.name == "COMPLETE", first.state
    assert first.user_attrs["folds_scored"] == 1
    rounds = first.user_attrs["curve_params"]["n_estimators"]
    assert 1 <= rounds < 100_000
    assert r.study.best_trial.number == 0
    assert r.result.model[-1].get_params()["n_estimators"] == rounds      # refit at the rounds it reached
    assert np.isfinite(r.best_score)


def test_untouched_when_the_budget_allows(slow_algorithm, table):
    "With time for every fold, no trial is marked and the refit's CV has every fold."
    X, y = table
    r = engine(cv=2).tune(X, y, slow_algorithm, n_trials=1, timeout=30)
    assert "folds_scored" not in r.study.trials[0].user_attrs
    assert "folds_scored" not in r.result.tuning


def test_fit_threads_rules():
    assert fit_threads(6_366 * 8, cores=2, busy=0.0) == 1               # a small table: one thread
    assert fit_threads(10**8, cores=2, busy=2.0) == 1                   # every core busy elsewhere: one, never 0
    assert fit_threads(10**8, cores=4, busy=1.0) == 3
    assert fit_threads(10**8, cores=4, busy=0.0) == 4
    assert 1 <= fit_threads(10**8) <= 64                                 # measured


def test_tune_sizes_booster_threads_and_keeps_the_configured_count(table):
    "The trials and the refit fit on one thread (a small table); the model keeps the configured -1."
    X, y = table
    seen = []
    import lightgbm

    fit = lightgbm.LGBMClassifier.fit
    def spy(self, *a, **k):
        seen.append(self.get_params()["n_jobs"])
        return fit(self, *a, **k)
    lightgbm.LGBMClassifier.fit = spy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = engine(cv=2).tune(X, y, "lightgbm", n_trials=2)
    finally:
        lightgbm.LGBMClassifier.fit = fit
    assert seen and set(seen) == {1}, seen
    assert r.result.model[-1].get_params()["n_jobs"] == -1
