"""Issue 33, the faces of monitoring and resource use in training: system metrics in a tracked training's run,
CPU and peak memory per model in the leaderboard, the learning-rate schedule of an MLP logged per epoch."""
import threading

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
