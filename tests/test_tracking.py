"Tracking against a real SQLite MLflow store in a temporary folder: no mocked MLflow."
import os
import signal
from pathlib import Path

import mlflow
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from mltrain_nb.engine import MLTrainingEngine
from mltrain_nb.events import ModelDone


def runs_of(engine):
    engine.wait_for_tracking()   # runs are logged in the background; this is when they have all ended
    return engine.tracker.client.search_runs([engine.tracker.experiment_id], max_results=5000)


class Exploding(ClassifierMixin, BaseEstimator):
    "A classifier whose fit raises what it is told to."
    def __init__(self, error="value"): self.error = error
    def fit(self, X, y):
        raise KeyboardInterrupt() if self.error == "interrupt" else ValueError("fit exploded")


def test_default_store_is_sqlite_in_experiments(iris_df):
    eng = MLTrainingEngine(cv=2, progress=False)
    result = eng.compare(iris_df, "species", models=["logistic_regression", "xgboost", "lightgbm"])
    assert Path("experiments/mlflow.db").exists() and Path("experiments/artifacts").is_dir()
    assert eng.tracker.tracking_uri == f"sqlite:///{Path('experiments').resolve()}/mlflow.db"
    runs = runs_of(eng)
    parent = [r for r in runs if r.info.run_id == result.run_id][0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.run_id]
    assert parent.info.status == "FINISHED" and len(children) == 3
    assert parent.data.tags["mltrain.best_model"] == result.best_model_name
    for child in children:
        assert child.info.status == "FINISHED"
        data = child.data
        assert {"cv_accuracy", "cv_accuracy_std", "test_accuracy", "training_time"} <= set(data.metrics)
        assert data.tags["mltrain.task"] == "classification" and "mltrain.version.scikit-learn" in data.tags
        assert data.tags["mltrain.rows"] == "120"
        assert len(eng.tracker.client.get_metric_history(child.info.run_id, "cv_accuracy_fold")) == 2
        assert child.inputs.dataset_inputs, "the dataset fingerprint is logged"
        assert data.tags["mltrain.plots"] in ("pending", "done")   # drawn by a renderer process after the call
    eng.wait_for_tracking(120)
    for child in children:
        plots = {a.path for a in eng.tracker.client.list_artifacts(child.info.run_id, "plots")}
        assert "plots/roc.png" in plots and "plots/confusion_matrix.png" in plots, plots


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm", "random_forest"])
def test_logged_model_reloads_and_predicts_the_same(iris_df, algorithm):
    eng = MLTrainingEngine(cv=2, progress=False)
    res = eng.train_model(iris_df, "species", algorithm)
    eng.wait_for_tracking()   # the model is logged in the background; its URI is set once it is stored
    model = eng.tracker.load_model(res["model_uri"])   # the tracker's store: no process-wide tracking URI
    X = iris_df.drop(columns="species")
    assert list(model.predict(X)) == list(eng.predict(X, algorithm))
    from mlflow.models import infer_signature   # read from the held-out predictions: the same as from the example's
    assert model.metadata.signature.outputs == infer_signature(X.head(5), eng.predict(X.head(5), algorithm)).outputs
    from mltrain_nb.tracking import _bound
    with _bound(eng.tracker.tracking_uri):   # models:/ URIs resolve through MLflow's global tracking URI
        reqs = Path(mlflow.artifacts.download_artifacts(res["model_uri"])) / "requirements.txt"
    assert "scikit-learn==" in reqs.read_text()


def test_failing_training_leaves_no_running_run(iris_df):
    eng = MLTrainingEngine(cv=2, progress=False)
    with pytest.raises(ValueError, match="fit exploded"):
        eng.train_model(iris_df, "species", custom_model=Exploding(), model_name="boom")
    statuses = {r.info.run_name: r.info.status for r in runs_of(eng)}
    assert statuses == {"boom": "FAILED"}
    assert mlflow.active_run() is None


def test_keyboard_interrupt_ends_runs_killed(iris_df):
    eng = MLTrainingEngine(cv=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        eng.train_model(iris_df, "species", custom_model=Exploding("interrupt"), model_name="stop")
    assert {r.info.run_name: r.info.status for r in runs_of(eng)} == {"stop": "KILLED"}


def test_graceful_stop_marks_the_comparison_killed(iris_df):
    def interrupt(event):
        if isinstance(event, ModelDone): os.kill(os.getpid(), signal.SIGINT)
    eng = MLTrainingEngine(cv=2, callbacks=[interrupt])
    result = eng.compare(iris_df, "species", models=["decision_tree", "knn"])
    statuses = {r.info.run_name: r.info.status for r in runs_of(eng)}
    assert result.interrupted
    # knn's run had started when the stop was seen at its first fold: it ends KILLED, not RUNNING
    assert statuses == {"compare classification": "KILLED", "decision_tree": "FINISHED", "knn": "KILLED"}
    assert list(result.results) == ["decision_tree"]


def test_a_failing_model_in_compare_is_failed_and_the_rest_finish(iris_df):
    from mltrain_nb.algorithms import register_algorithm, unregister_algorithm
    register_algorithm("exploding", Exploding(), "classification")
    try:
        eng = MLTrainingEngine(cv=2, progress=False)
        with pytest.warns(RuntimeWarning, match="exploding failed"):
            result = eng.compare(iris_df, "species", models=["exploding", "decision_tree"])
    finally:
        unregister_algorithm("exploding")
    statuses = {r.info.run_name: r.info.status for r in runs_of(eng)}
    assert statuses == {"compare classification": "FINISHED", "exploding": "FAILED", "decision_tree": "FINISHED"}
    assert list(result.results) == ["decision_tree"] and "exploding" in result.failures


def test_tracking_uri_env_and_off(iris_df, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    eng = MLTrainingEngine(cv=2, progress=False)
    eng.train_model(iris_df, "species", "decision_tree")
    assert eng.tracker.tracking_uri == uri and (tmp_path / "elsewhere.db").exists()
    off = MLTrainingEngine(cv=2, progress=False, tracking={"enabled": False, "output_dir": str(tmp_path / "off")})
    res = off.train_model(iris_df, "species", "decision_tree")
    assert off.tracker is None and "run_id" not in res and not (tmp_path / "off").exists()


def test_metrics_are_batched(iris_df, monkeypatch):
    "Per-fold and per-iteration metrics go through log_batch, never one log_metric call per value."
    calls = {"log_metric": 0}
    real = mlflow.tracking.MlflowClient.log_metric
    def counting(self, *a, **k):
        calls["log_metric"] += 1
        return real(self, *a, **k)
    monkeypatch.setattr(mlflow.tracking.MlflowClient, "log_metric", counting)
    X, y = iris_df.drop(columns="species"), iris_df["species"]
    eng = MLTrainingEngine(cv=3, progress=False)
    res = eng.train_model(X, y, "lightgbm", X_val=X.iloc[::4], y_val=y.iloc[::4])
    eng.wait_for_tracking()   # the run is logged in the background
    hist = eng.tracker.client.get_metric_history(res["run_id"], "valid_loss")
    assert len(hist) == len(res["training_history"]) > 10
    assert calls["log_metric"] == 0


def test_report_written_and_logged(iris_df):
    eng = MLTrainingEngine(cv=2, progress=False)
    eng.compare(iris_df, "species", models=["logistic_regression", "random_forest"])
    written = eng.generate_report()
    assert isinstance(written, str) and written.endswith(".md")      # spec 000: the Markdown path, the HTML beside it
    html = Path(written).with_suffix(".html").read_text()
    assert "data:image/png;base64," in html and "Leaderboard" in html and "<script" not in html
    md = Path(written).read_text()
    assert "_files/" in md
    _, best = eng.get_best_model()
    eng.wait_for_tracking()   # the run is logged in the background
    arts = {a.path for a in eng.tracker.client.list_artifacts(best["run_id"], "report")}
    assert any(a.endswith(".md") for a in arts) and any(a.endswith(".html") for a in arts)


@pytest.mark.parametrize("algorithm", ["xgboost", "logistic_regression", "knn"])
def test_explanations_by_original_column_multiclass_and_logged(iris_df, algorithm):
    eng = MLTrainingEngine(cv=2, progress=False)
    eng.train_model(iris_df, "species", algorithm)
    ex = eng.generate_explainability(algorithm, max_rows=60)
    columns = set(iris_df.columns) - {"species"}
    assert set(ex["importance"]) == columns and Path(ex["plot_path"]).exists()
    assert ex["values"].shape[1:] == (len(columns), 3)          # rows x original columns x classes
    perm = eng.generate_explainability(algorithm, method="permutation")
    assert set(perm["importance"]) == columns
    run_id = eng.models[algorithm]["run_id"]
    eng.wait_for_tracking()   # the run is logged in the background
    arts = {a.path for a in eng.tracker.client.list_artifacts(run_id)}
    assert {"explain_shap_importance.json", "explain_permutation_importance.json"} <= arts


def test_tune_is_tracked_as_a_study_and_a_refit(iris_df):
    eng = MLTrainingEngine(cv=2, progress=False)
    tr = eng.tune(iris_df, "species", "decision_tree", n_trials=5)
    runs = {r.info.run_name: r for r in runs_of(eng)}
    parent, child = runs["tune decision_tree"], runs["decision_tree_tuned"]
    assert parent.info.status == child.info.status == "FINISHED"
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id == tr.run_id
    arts = {a.path for a in eng.tracker.client.list_artifacts(parent.info.run_id)}
    plots = {a.path for a in eng.tracker.client.list_artifacts(parent.info.run_id, "plots")}
    assert "trials.csv" in arts and any("optimization_history" in p for p in plots), (arts, plots)
    assert parent.data.metrics["n_trials"] == 5
