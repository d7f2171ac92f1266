"""`engine.automl` end to end: tracked runs, an interrupt, the model saved, loaded, registered, explained and served.

Small budgets on sklearn's breast-cancer table (569 rows); the whole file costs well under a minute on 2 cores.
No timed assertions: the wall-clock budget is measured by bench/vs_automl.py.
"""
import pickle

import numpy as np
import pytest

from mltrain_nb.engine import MLTrainingEngine, AutoMLResult, EnsembleSelection
from mltrain_nb.events import AutoMLStarted, AutoMLTrial, EnsembleBuilt


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer(as_frame=True)
    X = d.data.iloc[:, :12].copy()
    X.loc[::9, "mean radius"] = np.nan                     # NaNs and a string categorical, as users have
    X["site"] = np.where(X.index % 3 == 0, "north", "south")
    return X, d.target.map({0: "malignant", 1: "benign"}).rename("diagnosis")


def _runs(result):
    import mlflow
    client = mlflow.tracking.MlflowClient(result.tracking_uri)
    parent = client.get_run(result.run_id)
    kids = client.search_runs([parent.info.experiment_id],
                              f"tags.mlflow.parentRunId = '{result.run_id}'")
    return client, parent, kids


def test_tracked_search_saves_registers_and_explains(cancer, tmp_path):
    "One parent run with the final model (signature), one child run per learner with its trials as metrics."
    X, y = cancer
    events = []
    engine = MLTrainingEngine(progress=False, callbacks=[events.append])
    r = engine.automl(X, y, time_budget=6, models=["lightgbm", "logistic_regression", "random_forest"])
    assert isinstance(r, AutoMLResult) and not r.interrupted
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "AutoMLStarted" and "AutoMLTrial" in kinds and "EnsembleBuilt" in kinds
    assert kinds[-1] == "TrainingFinished"
    trial_events = [e for e in events if isinstance(e, AutoMLTrial)]
    assert len(trial_events) == len(r.history) and all(e.time_left >= 0 for e in trial_events)

    client, parent, kids = _runs(r)
    assert parent.info.status == "FINISHED" and parent.data.params["time_budget"] == "6.0"
    assert {k.info.run_name for k in kids} == {f"automl {n}" for n in set(r.history.learner)}
    assert all(k.info.status == "FINISHED" for k in kids)
    lgb = next(k for k in kids if k.info.run_name == "automl lightgbm")
    n_lgb = int((r.history.learner == "lightgbm").sum())
    assert len(client.get_metric_history(lgb.info.run_id, "trial_seconds")) == n_lgb

    import mlflow
    uri = r.results["automl"].model_uri
    mlflow.set_tracking_uri(r.tracking_uri)
    try: info = mlflow.models.get_model_info(uri)
    finally: mlflow.set_tracking_uri(None)     # nothing set, as before: later tests use their own stores
    assert info.signature is not None and "site" in info.signature.inputs.input_names()

    path = engine.save_model("automl", tmp_path / "models")      # the package's versioned save, checked on load
    loaded = MLTrainingEngine(progress=False, tracking={"enabled": False}).load_model(path)
    assert list(loaded.model.predict(X.head(5))) == list(r.predict(X.head(5)))
    entry = r.register(name="cancer_automl")
    assert entry["name"] == "cancer_automl" and entry["algorithm"] == r.results["automl"].algorithm
    imp = r.explain(method="permutation", max_rows=60)["importance"]
    assert set(imp) <= set(X.columns) and len(imp) > 0


def test_interrupt_keeps_the_best_so_far_and_ends_runs_killed(cancer):
    "A KeyboardInterrupt after the second trial: the best model so far comes back, no run is left RUNNING."
    X, y = cancer
    seen = []
    def stop_after_two(event):
        if isinstance(event, AutoMLTrial):
            seen.append(event)
            if len(seen) == 2: raise KeyboardInterrupt
    r = MLTrainingEngine(progress=False, callbacks=[stop_after_two]).automl(X, y, time_budget=30)
    assert r.interrupted and len(r.history) == 2
    assert r.predict(X.head(3)).shape == (3,)
    _, parent, kids = _runs(r)
    assert parent.info.status == "KILLED"
    assert kids and all(k.info.status == "KILLED" for k in kids)


def test_ensemble_is_one_estimator_and_order_is_reproducible(cancer):
    "The blend pickles and predicts probabilities; the first pass of learners is the fixed cheapest-first order."
    X, y = cancer
    off = {"enabled": False}
    runs = [MLTrainingEngine(progress=False, tracking=off).automl(X, y, time_budget=4, seed=3) for _ in range(2)]
    from mltrain_nb.engine import automl_learners
    order = [lrn.name for lrn in automl_learners("classification", len(X))[0]]   # cheapest first, fixed
    for r in runs:   # the first pass follows it (a loaded machine may reach fewer learners in 4 s)
        seen = list(dict.fromkeys(r.history.learner))
        assert seen[:len(order)] == order[:len(seen)]
    model = runs[0].best_model
    again = pickle.loads(pickle.dumps(model))
    assert np.allclose(again.predict_proba(X.head(6)), model.predict_proba(X.head(6)))
    final = model.steps[-1][1]
    if isinstance(final, EnsembleSelection):
        assert abs(sum(final.weights) - 1) < 1e-9 and len(final.names) == len(final.estimators) > 1
