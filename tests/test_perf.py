"Correctness of the fast paths (issue 16): parallel compare, background tracking, a tuning budget. No timed assertions of speed."
import time

import mlflow
import pytest

from mltrain_nb.engine import MLTrainingEngine
from mltrain_nb.events import FoldDone, ModelDone

MODELS = ["logistic_regression", "decision_tree", "random_forest", "lightgbm"]


def _compare(df, n_jobs, **kw):
    seen = []
    eng = MLTrainingEngine(cv=3, n_jobs=n_jobs, progress=False, callbacks=[seen.append], **kw)
    result = eng.compare(df, "species", models=MODELS)
    return eng, result, seen


def test_parallel_compare_is_identical_to_sequential_and_emits_in_order(iris_df, quiet):
    _, seq, seq_events = _compare(iris_df, 1, tracking={"enabled": False})
    eng, par, par_events = _compare(iris_df, 2, tracking={"enabled": False})
    for name in MODELS:
        assert par.results[name].cv_scores == seq.results[name].cv_scores, name
        assert par.results[name].test_metrics == seq.results[name].test_metrics, name
    order = lambda evs: [(type(e).__name__, e.model, getattr(e, "fold", None)) for e in evs if isinstance(e, (FoldDone, ModelDone))]
    assert order(par_events) == order(seq_events)
    # the model that came back from a worker has its configured thread count again, and predicts like the sequential one
    assert par.results["random_forest"].model[-1].n_jobs == 2
    X = iris_df.drop(columns="species")
    assert list(eng.predict(X, "lightgbm")) == list(seq.results["lightgbm"].model.predict(X))


def test_background_tracking_leaves_every_run_finished_with_its_plots_after_shutdown(iris_df, quiet):
    eng, result, _ = _compare(iris_df, 2)
    assert eng.tracker.background
    eng.shutdown()
    assert eng.tracker.pending() == 0
    runs = mlflow.MlflowClient(eng.tracker.tracking_uri).search_runs([eng.tracker.experiment_id])
    assert {r.info.status for r in runs} == {"FINISHED"} and len(runs) == len(MODELS) + 1
    for r in runs:
        if r.info.run_name in MODELS:
            plots = {a.path for a in eng.tracker.client.list_artifacts(r.info.run_id, "plots")}
            assert "plots/confusion_matrix.png" in plots and "plots/roc.png" in plots, (r.info.run_name, plots)
            assert r.data.tags.get("mltrain.model_uri")
    assert result.results["lightgbm"].model_uri


def test_tune_keeps_to_its_timeout_and_keeps_the_best_completed_trial(iris_df, quiet):
    eng = MLTrainingEngine(cv=3, progress=False, tracking={"enabled": False})
    t = time.perf_counter()
    tr = eng.tune(iris_df, "species", "lightgbm", n_trials=10_000, timeout=4)
    wall = time.perf_counter() - t
    assert wall < 60, wall   # only that the budget stops the search at all; how closely (1.05x) is measured in bench/
    complete = tr.trials[tr.trials.state == "COMPLETE"]
    assert len(complete) >= 1 and tr.best_score == pytest.approx(complete.score.max())
    assert "lightgbm_tuned" in eng.models
