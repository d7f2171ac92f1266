"""Issue 33, the faces of monitoring and resource use in training: system metrics in a tracked training's run,
CPU and peak memory per model in the leaderboard, the learning-rate schedule of an MLP logged per epoch."""
import threading
from pathlib import Path

import pytest

from mltrain_nb.engine import MLTrainingEngine


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:, :8], y


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    "One tracking store for the module: creating a SQLite store costs seconds."
    return str(tmp_path_factory.mktemp("exp"))


def _client(engine):
    from mlflow import MlflowClient
    return MlflowClient(engine.tracker.tracking_uri)


# ---- item 6: resource use in training ---------------------------------------------------------------

@pytest.mark.parametrize("background", [True, False], ids=["tracking-process", "tracking-thread"])
def test_tracked_compare_has_system_metrics_and_resource_columns(cancer, store, background):
    X, y = cancer
    cfg = {"cv": 2, "n_jobs": 1, "tracking": {"output_dir": store, "log_models": False,
                                              "log_plots": False, "background": background,
                                              "system_metrics": 0.2}}
    engine = MLTrainingEngine(cfg)
    result = engine.compare(X, y, models=["logistic_regression", "decision_tree"])
    board = result.leaderboard
    assert {"cpu_time", "peak_memory_mb"} <= set(board.columns)
    assert (board["cpu_time"] > 0).all() and (board["peak_memory_mb"] >= 0).all(), board
    client = _client(engine)
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    cpu = client.get_metric_history(result.run_id, "system/cpu_utilization_percentage")
    memory = client.get_metric_history(result.run_id, "system/system_memory_usage_megabytes")
    assert len(cpu) >= 1 and len(memory) >= 1 and all(p.value > 0 for p in memory)
    assert sorted(p.step for p in cpu) == list(range(len(cpu)))
    for name in ("logistic_regression", "decision_tree"):
        child = client.get_run(result.results[name].run_id).data.metrics
        assert child["cpu_time"] == pytest.approx(board.loc[name, "cpu_time"])
        assert "peak_memory_mb" in child
    # the monitor's thread ended with the run (in this process when tracking runs on a thread)
    assert not [t for t in threading.enumerate() if t.name == "SystemMetricsMonitor"]
    engine.shutdown()


def test_system_metrics_off(cancer, store):
    X, y = cancer
    engine = MLTrainingEngine({"cv": 2, "n_jobs": 1, "tracking": {
        "output_dir": store, "log_models": False, "log_plots": False, "system_metrics": None}})
    res = engine.train_model(X, y, "logistic_regression")
    engine.wait_for_tracking()
    assert not [k for k in _client(engine).get_run(res.run_id).data.metrics if k.startswith("system/")]
    assert res.cpu_time > 0
    engine.shutdown()


def test_adaptive_mlp_logs_its_learning_rate_per_epoch(cancer, store):
    X, y = cancer
    mlp = {"hidden_layer_sizes": [8], "solver": "sgd", "learning_rate": "adaptive", "learning_rate_init": 0.5,
           "n_iter_no_change": 2, "tol": 1e-3, "max_iter": 40}
    engine = MLTrainingEngine({"cv": 2, "n_jobs": 1, "model_params": {"mlp": mlp}, "tracking": {
        "output_dir": store, "log_models": False, "log_plots": False, "system_metrics": None}})
    res = engine.train_model(X, y, "mlp")
    engine.wait_for_tracking()
    rates = [h["learning_rate"] for h in res.history]
    assert len(rates) == len(res.history) > 2 and rates[0] == 0.5
    assert min(rates) < 0.5, "the adaptive schedule should have lowered the rate at least once"
    logged = sorted(_client(engine).get_metric_history(res.run_id, "learning_rate"), key=lambda m: m.step)
    assert [m.step for m in logged] == [h["iteration"] for h in res.history]
    assert [m.value for m in logged] == pytest.approx(rates)
    engine.shutdown()


# ---- item 4: the faces of monitoring, with a tiny model ---------------------------------------------------

@pytest.fixture(scope="module")
def monitored(store):
    """A logistic regression registered with its reference profile (held-out rows and labels), promoted, in the
    module's store (creating another costs seconds)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from mltrain_nb.registry import ModelDeployment
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5]
    home = Path(store)
    # module fixtures run before the per-test fixture that drops a leaked MLFLOW_TRACKING_URI (an earlier
    # module's mlflow.set_tracking_uri sets it): the store must be the module's own, as the faces see it
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        dep = ModelDeployment(output_dir=home)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[:300], y[:300])
    mid = dep.save_model(model, "cancer", task_type="classification", input_example=X.head(3),
                         reference=(X[300:], y[300:]))
    dep.promote_to_production(mid)
    return dep, X, y, home


def _shifted(X, n=160):
    rows = X.sample(n, replace=True, random_state=0).reset_index(drop=True)
    rows.loc[n // 2:, "mean radius"] += 5
    return rows


def test_rest_predict_logs_with_an_id_outcomes_and_monitoring(monitored):
    from fastapi.testclient import TestClient
    from mltrain_nb.server.app import create_app
    from mltrain_nb.server.db import ServerSettings
    dep, X, y, home = monitored
    settings = ServerSettings(output_dir=str(home), workers=1)
    with TestClient(create_app(settings)) as client:
        rows, ids = _shifted(X), []
        for i in range(0, 160, 40):
            r = client.post("/api/ml/models/predict",
                            json={"model_id": "cancer@production", "features": rows[i:i + 40].to_dict("records")})
            assert r.status_code == 200, r.text
            ids.append(r.json()["prediction_id"])
        assert len(set(ids)) == 4 and all(i is not None for i in ids)
        ok = client.post("/api/ml/models/cancer/outcomes", json={"prediction_id": ids[0], "y_true": y[:40].tolist()})
        assert ok.status_code == 200, ok.text
        for bad, why in [({"prediction_id": 10**9, "y_true": 1}, "never"), ({"y_true": 1}, "exactly one"),
                         ({"prediction_id": ids[1], "y_true": [1, 0]}, "40")]:
            r = client.post("/api/ml/models/cancer/outcomes", json=bad)
            assert r.status_code in (404, 422) and r.json(), (bad, r.text)
        report = client.get("/api/ml/models/cancer/monitoring", params={"window": 80}).json()["report"]
        assert [w["rows"] for w in report["windows"]] == [80, 80] and report["status"] == "drift"
        assert report["windows"][0]["outcomes"] == 40
        assert client.get("/api/ml/models/cancr/monitoring").status_code == 404
        assert client.get("/api/ml/models/cancer/monitoring", params={"since": "2999-01-01"}).status_code == 422


def test_cli_monitor_exit_status_and_html(monitored, tmp_path, capsys):
    from mltrain_nb.cli import main
    dep, X, _, _ = monitored
    engine = dep.inference_engine("cancer")
    rows = _shifted(X)
    for i in range(0, 160, 40): engine.predict(rows[i:i + 40])
    page = tmp_path / "cancer.html"
    assert main(["monitor", "cancer", "--window", "80", "--html", str(page), "--tracking-uri", dep.tracking_uri]) == 1
    out = capsys.readouterr().out
    assert out.startswith("MonitorReport(cancer v1") and "mean radius" in out and page.read_text().startswith("<!")
    since = "2999-01-01"
    assert main(["monitor", "cancer", "--since", since, "--tracking-uri", dep.tracking_uri]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_magics_monitor_and_outcome_in_a_shell(monitored):
    from IPython.core.error import UsageError
    from IPython.testing.globalipapp import get_ipython
    dep, X, y, home = monitored
    ip = get_ipython()
    ip.run_line_magic("load_ext", "mltrain_nb")
    ip.run_line_magic("config", f"MLTrain.output_dir = {str(home)!r}")
    engine = dep.inference_engine("cancer")
    _, pid = engine.predict(X[:3], return_id=True)
    ip.run_line_magic("mltrain", f"outcome {pid} [{', '.join(str(v) for v in y[:3])}]")
    report = ip.run_line_magic("mltrain", "monitor cancer --window 1000 --no-panel -o rep")
    assert ip.user_ns["rep"] is report and report.windows["outcomes"].sum() >= 3
    for line, why in [("outcome 5", "PREDICTION_ID Y_TRUE"), (f"outcome {pid} 'maybe'", ""),
                      ("monitor cancr", "cancr")]:
        with pytest.raises(UsageError) as e: ip.run_line_magic("mltrain", line)
        assert type(e.value) is UsageError and why in str(e.value)


def test_panel_and_static_summary(monitored, tmp_path):
    from mltrain_nb.panels import monitor_panel
    dep, X, _, _ = monitored
    engine = dep.inference_engine("cancer")
    rows = _shifted(X)
    for i in range(0, 160, 40): engine.predict(rows[i:i + 40])
    report = dep.monitor("cancer", window=80)
    panel = monitor_panel(report, n_worst=2, html=tmp_path / "r.html")
    assert panel.summary_html.count("<img") == 3 and "mean radius" in panel.summary_html
    assert len(panel.widget.children) == 4 and (tmp_path / "r.html").exists()


def test_mltrain_serve_app_answers_prediction_ids(monitored):
    from fastapi.testclient import TestClient
    from mltrain_nb.registry.serving import scoring_app
    dep, X, y, _ = monitored
    client = TestClient(scoring_app("cancer", dep.tracking_uri))
    body = {"dataframe_split": {"columns": list(X.columns), "data": X[:5].values.tolist()}}
    answer = client.post("/invocations", json=body).json()
    assert answer["predictions"] == dep.inference_engine("cancer", log=False).predict(X[:5]).tolist()
    dep.record_outcome(prediction_id=answer["prediction_id"], y_true=y[:5].tolist())
    assert client.get("/ping").status_code == 200
