"""System metrics overhead: a tracked `compare` with MLflow's system metrics sampled every second (the default,
`TrackingSpec.system_metrics=1.0`) against the same call with them off, and the threads left afterwards.

    python bench/system_metrics_overhead.py     # writes bench/results/system_metrics_overhead.json

The monitor samples in the tracking process (psutil reads and one `get_run` per sample, one batched write), so the
training process should not see it: the goal is no difference beyond the noise of a shared machine (medians of
ROUNDS alternated rounds after a warm-up one), no `SystemMetricsMonitor` thread left in this process, and at least
one system-metrics point in every call's run. Also reported: the points each run got and the cpu_time /
peak_memory_mb columns of the leaderboard.
"""
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ROUNDS = 7
MODELS = ["logistic_regression", "decision_tree", "random_forest", "lightgbm"]


def main() -> dict:
    from mlflow import MlflowClient
    from sklearn.datasets import load_breast_cancer
    from mltrain_nb.engine import MLTrainingEngine
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    store = tempfile.mkdtemp(prefix="sysmetrics-")
    def engine(interval):
        return MLTrainingEngine(cv=5, progress=False, tracking={"output_dir": store, "log_plots": False,
                                                                "system_metrics": interval})
    engines = {"off": engine(None), "on": engine(1.0)}
    times, points, board = {"off": [], "on": []}, [], None
    for i in range(ROUNDS + 1):
        for mode, e in engines.items():
            t = time.perf_counter()
            r = e.compare(X, y, models=MODELS)
            if i: times[mode].append(time.perf_counter() - t)
            if mode == "on":
                client = MlflowClient(e.tracker.tracking_uri)
                points.append(len(client.get_metric_history(r.run_id, "system/cpu_utilization_percentage")))
                board = r.leaderboard[["cpu_time", "peak_memory_mb", "fit_time"]]
    for e in engines.values(): e.shutdown()
    out = {"rounds": ROUNDS, "models": MODELS, "median_s": {k: statistics.median(v) for k, v in times.items()},
           "all_s": times, "system_points_per_run": points,
           "monitor_threads_left": sum(t.name == "SystemMetricsMonitor" for t in threading.enumerate()),
           "leaderboard": board.round(3).to_dict("index")}
    out["difference_s"] = out["median_s"]["on"] - out["median_s"]["off"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "system_metrics_overhead.json").write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    res = main()
    print(json.dumps({k: res[k] for k in ("median_s", "difference_s", "system_points_per_run",
                                          "monitor_threads_left")}, indent=2))
