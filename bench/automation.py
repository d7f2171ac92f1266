"""Experiment automation benchmark: a 4-model x 3-split matrix.

- `mltrain pipeline --n-jobs 2` vs `--n-jobs 1`, each in a fresh process, three times alternating, medians compared
  (target: >= 1.6x faster on 2 cores);
- the same matrix as a plain loop of `MLTrainingEngine.train_model` calls (the raw engine, no tracking, no files), for the
  automation's own overhead;
- a Dask LocalCluster (2 workers x 1 thread, imports warmed) vs warm local processes (2), in one process: overhead per cell
  (target <= 0.5 s);
- a fully resumed run (target < 1 s plus import time) and `--skip_training`, in fresh processes and in-process (warm).

Run by hand:  PYTHONPATH=. python bench/automation.py   ->  bench/results/automation.json
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["logistic_regression", "random_forest", "xgboost", "lightgbm"]
SPLITS = ["stratified", "temporal", "event_aware"]
ROWS, CV = int(os.environ.get("BENCH_ROWS", 4000)), 3
REPEAT = int(os.environ.get("BENCH_REPEAT", 3))


def make_data(path: Path) -> None:
    "A synthetic classification set with a time column and 400 groups (events), written as Parquet."
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification
    X, y = make_classification(ROWS, 20, n_informative=8, random_state=0)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    group = np.random.default_rng(0).permutation(ROWS) % 400
    df["event"] = [f"e{g}" for g in group]
    df["when"] = pd.Timestamp("2023-01-01") + pd.to_timedelta(group * 2 + np.arange(ROWS) % 2, unit="D")
    df["label"] = np.where(y == 1, "yes", "no")
    df.to_parquet(path)


def cli(cwd: Path, *args) -> float:
    "Wall time of one `mltrain pipeline` in a fresh interpreter."
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", "from mltrain_nb.cli import entry; entry()", "pipeline", *args],
                       cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0: raise RuntimeError(f"mltrain pipeline {args} failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall


def import_time() -> float:
    "Wall time of a fresh interpreter importing what a resumed pipeline imports (the CLI, automation, engine, MLflow's SQL store)."
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import mltrain_nb.cli, mltrain_nb.automation, mltrain_nb.engine, mltrain_nb.tracking, mltrain_nb.report, "
            "matplotlib.figure, mlflow, mlflow.store.tracking.sqlalchemy_store, sklearn.datasets")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - t


def raw_engine_loop(path: Path) -> float:
    "The same 12 cells as a plain loop over the engine (one thread per fit, no tracking, no files)."
    import pandas as pd
    from threadpoolctl import threadpool_limits
    from mltrain_nb.data import parse_times
    from mltrain_nb.engine import MLTrainingEngine
    df = pd.read_parquet(path)
    df["when"] = parse_times(df["when"])
    t = time.perf_counter()
    with threadpool_limits(1):
        for split in SPLITS:
            for model in MODELS:
                cfg = {"cv": CV, "n_jobs": 1, "tracking": {"enabled": False}, "feature_selection": {"method": "statistical"},
                       "split": {"strategy": split, "time_column": "when", "group_column": "event"}}
                MLTrainingEngine(cfg, progress=False).train_model(df, "label", model)
    return time.perf_counter() - t


def _warm() -> None:
    "Import what a cell needs (run on each Dask worker before timing, as the warm-up run does for the local processes)."
    import lightgbm, sklearn.ensemble, xgboost  # noqa: F401
    import mltrain_nb.automation, mltrain_nb.engine, mltrain_nb.explain  # noqa: F401


def main() -> None:
    out: dict = {"rows": ROWS, "features": 20, "models": MODELS, "splits": SPLITS, "cv": CV, "cells": len(MODELS) * len(SPLITS),
                 "cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
                 "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    work = Path(tempfile.mkdtemp(prefix="mltrain-bench-automation-"))
    data = work / "data.parquet"
    make_data(data)
    common = ["--data", str(data), "--target", "label", "--time-column", "when", "--group-column", "event",
              "--models", *MODELS, "--splits", *SPLITS, "--cv", str(CV)]
    # each side three times, alternating, on a fresh folder and store each time; the medians are compared
    runs: dict[int, list[float]] = {1: [], 2: []}
    for i in range(REPEAT):
        for n in (1, 2):
            d = work / f"n{n}-{i}"
            d.mkdir()
            runs[n].append(cli(d, *common, "--n-jobs", str(n)))
    d1 = work / "n1-0"
    out["n_jobs_1_runs_s"], out["n_jobs_2_runs_s"] = runs[1], runs[2]
    out["n_jobs_1_s"], out["n_jobs_2_s"] = statistics.median(runs[1]), statistics.median(runs[2])
    out["speedup_n_jobs_2_vs_1"] = out["n_jobs_1_s"] / out["n_jobs_2_s"]
    out["resumed_cli_s"] = cli(d1, *common, "--n-jobs", "1")
    out["skip_training_cli_s"] = cli(d1, "--skip_training")
    out["import_s"] = min(import_time() for _ in range(2))
    out["resumed_minus_import_s"] = out["resumed_cli_s"] - out["import_s"]
    out["skip_training_minus_import_s"] = out["skip_training_cli_s"] - out["import_s"]
    out["raw_engine_loop_s"] = raw_engine_loop(data)
    out["pipeline_n_jobs_1_vs_raw_engine_loop"] = out["n_jobs_1_s"] / out["raw_engine_loop_s"]

    # in one process: warm resume and rebuild, then Dask vs warm local processes on a fresh store each
    from distributed import LocalCluster
    from mltrain_nb.automation import run_experiments
    kw = dict(target="label", time_column="when", group_column="event", models=MODELS, splits=SPLITS, cv=CV)
    os.chdir(d1)
    run_experiments(str(data), n_jobs=1, tracking_uri=f"sqlite:///{d1}/experiments/mlflow.db", **kw)   # warm imports
    t = time.perf_counter()
    res = run_experiments(str(data), n_jobs=1, tracking_uri=f"sqlite:///{d1}/experiments/mlflow.db", **kw)
    out["resumed_in_process_s"] = time.perf_counter() - t
    assert len(res.resumed) == 12, res
    t = time.perf_counter()
    run_experiments(skip_training=True, tracking_uri=f"sqlite:///{d1}/experiments/mlflow.db")
    out["skip_training_in_process_s"] = time.perf_counter() - t
    run_experiments(str(data), n_jobs=2, output=str(work / "warmup"), tracking_uri=f"sqlite:///{work}/warmup.db", **kw)
    t = time.perf_counter()
    loky = run_experiments(str(data), n_jobs=2, output=str(work / "loky"), tracking_uri=f"sqlite:///{work}/loky.db", **kw)
    out["local_processes_warm_s"] = time.perf_counter() - t
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        from distributed import Client
        with Client(cluster, set_as_default=False) as client: client.run(_warm)   # workers import once, as warm loky workers have
        t = time.perf_counter()
        dask = run_experiments(str(data), dask_address=cluster.scheduler_address, output=str(work / "dask"),
                               tracking_uri=f"sqlite:///{work}/dask.db", **kw)
        out["dask_s"] = time.perf_counter() - t
    scores = [c for c in loky.table.columns if c.startswith(("cv_", "test_", "train_"))]
    out["dask_identical_to_local_processes"] = bool(loky.table[scores].equals(dask.table[scores]))
    out["dask_overhead_per_cell_s"] = (out["dask_s"] - out["local_processes_warm_s"]) / out["cells"]
    out["ratios"] = {"n_jobs_2_speedup (target >= 1.6)": round(out["speedup_n_jobs_2_vs_1"], 3),
                     "dask_overhead_per_cell_s (target <= 0.5)": round(out["dask_overhead_per_cell_s"], 3),
                     "resumed_minus_import_s (target < 1)": round(out["resumed_minus_import_s"], 3),
                     "resumed_in_process_s": round(out["resumed_in_process_s"], 3),
                     "skip_training_minus_import_s": round(out["skip_training_minus_import_s"], 3),
                     "pipeline_n_jobs_1 / raw engine loop": round(out["pipeline_n_jobs_1_vs_raw_engine_loop"], 3)}
    out["load_average_at_end"] = os.getloadavg()[0]
    path = ROOT / "bench" / "results" / "automation.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["ratios"], indent=2))


if __name__ == "__main__":
    main()
