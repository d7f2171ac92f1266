"""Tuning benchmarks: what pruning saves, Optuna against grid search, and the cost of running trials on Dask.

    python bench/tuning_pruning.py            # 50k rows, 40 trials; writes bench/results/tuning.json
    python bench/tuning_pruning.py --quick    # a smoke run on small data; writes nothing unless --out is given

1. Pruning: `--trials` Optuna trials (TPE, seed 0) of xgboost on `--rows` synthetic rows, `--cv`-fold CV, the catalog's
   xgboost space, without pruning (pruner="none") and with it (the median pruner: fold-level and boosting-round).
   Goal: with pruning at most 0.6x the wall time, and a best CV score within 0.002 of the unpruned study's.
2. Grid vs Optuna: the catalog's xgboost grid (n_estimators, max_depth, learning_rate, subsample, colsample_bytree:
   48 candidates) by scikit-learn's GridSearchCV (through `tuning.run_search`, one scorer), then two Optuna studies
   (`tuning.run_optuna`, what `engine.tune` runs), each given a quarter of the grid's wall time: on the space `tune`
   searches by default (the catalog's xgboost space), and on the grid's five parameters as ranges spanning its values.
   Goal: Optuna's best CV score equal or better (judged on the default space, the issue's `tune`).
3. Dask: the same small grid of trials (sampler="grid", so both runs fit the same configurations) in process and on a
   `LocalCluster` with one single-threaded worker process, xgboost on one thread in both: the overhead per trial
   (cluster start-up excluded).

Every run uses the same rows, the same folds and the same pipeline (the package's preprocessing + xgboost). Optuna runs
use the package's defaults: the estimator's defaults as the first trial, and n_estimators read off each trial's
validation curve (the sampled n_estimators is how far a trial boosts; the best count up to it is the trial's).
"""
import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mltrain_nb import algorithms as malgo
from mltrain_nb import data as mdata
from mltrain_nb import evaluation as meval
from mltrain_nb import tuning

RESULTS = Path(__file__).parent / "results"


def synthetic(n_rows, n_features=20, seed=0):
    "A binary classification frame: numeric features with some noise and redundancy, string labels."
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n_rows, n_features=n_features, n_informative=10, n_redundant=4,
                               flip_y=0.03, class_sep=0.8, random_state=seed)
    df = pd.DataFrame(X, columns=[f"num{i}" for i in range(n_features)])
    return df, pd.Series(np.where(y == 1, "churn", "stay"), name="label")


def setup(rows, cv, n_jobs):
    "(X, y, folds, build) shared by every run."
    from sklearn.model_selection import StratifiedKFold
    X, y = synthetic(rows)
    folds = list(StratifiedKFold(cv, shuffle=True, random_state=0).split(X, y))
    est = malgo.make_estimator("xgboost", "classification", random_state=0, n_jobs=n_jobs)
    build = tuning.PipelineBuilder(est, [("preprocess", mdata.build_preprocessor(X))])
    return X, y, folds, build


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def optuna_search(build, X, y, folds, metric, space, random_state=None, rounds_from_curve=True, **config):
    "`tuning.run_optuna` on a classification task; `config`: `TuneConfig` fields."
    from mltrain_nb.config import TuneConfig
    return tuning.run_optuna(TuneConfig(metric=metric, search_space=space, **config),
                             tuning.SearchData(build, X, y, folds, "classification"),
                             tuning.SearchRun(random_state=random_state, rounds_from_curve=rounds_from_curve))


def pruning(X, y, folds, build, metric, trials, space):
    res = {}
    for label, pruner in (("no_pruning", "none"), ("pruning", "median")):
        out, wall = timed(optuna_search, build, X, y, folds, metric, space, n_trials=trials,
                          pruner=pruner, random_state=0)
        res[label] = {"wall_s": wall, "best_score": out.best_score, "best_params": out.best_params, "states": out.counts()}
        print(f"  {label:11s} {wall:8.1f}s  best {metric} {out.best_score:.4f}  {out.counts()}", flush=True)
    a, b = res["no_pruning"], res["pruning"]
    sign = 1 if meval.greater_is_better(metric, "classification") else -1
    res["time_ratio"] = b["wall_s"] / a["wall_s"]
    res["score_diff"] = sign * (b["best_score"] - a["best_score"])      # > 0: pruning found better
    res["goal"] = "time_ratio <= 0.6 and score_diff >= -0.002"
    res["met"] = bool(res["time_ratio"] <= 0.6 and res["score_diff"] >= -0.002)
    print(f"  ratio {res['time_ratio']:.3f}, score diff {res['score_diff']:+.4f} -> goal met: {res['met']}", flush=True)
    return res


def ranges_of(grid):
    "The search space that asks the grid's question: each grid parameter as a range over its grid values."
    space = {}
    for k, values in grid.items():
        nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(nums) != len(values) or len(set(nums)) < 2: space[k] = list(values); continue
        lo, hi = min(nums), max(nums)
        if all(isinstance(v, int) for v in nums): space[k] = {"int": [lo, hi], **({"log": True} if hi / max(lo, 1) >= 4 else {})}
        else: space[k] = {"float": [lo, hi], **({"log": True} if lo > 0 and hi / lo >= 4 else {})}
    return space


def grid_vs_optuna(X, y, folds, build, metric, grid, space):
    "The grid by GridSearchCV, then Optuna (on `space`, and on the grid's ranges) each with a quarter of the grid's wall time."
    spec = malgo.get_algorithm("xgboost", "classification")
    gs, g_wall = timed(tuning.run_search, build, X, y, folds, "classification", metric, grid=grid, metrics=[metric],
                       prefix="model__" + spec.param_prefix("classification"))
    print(f"  grid    {g_wall:8.1f}s  {len(gs.trials)} candidates  best {metric} {gs.best_score:.4f}", flush=True)
    budget = g_wall / 4
    sign = 1 if meval.greater_is_better(metric, "classification") else -1
    res = {"grid": {"wall_s": g_wall, "candidates": len(gs.trials), "best_score": gs.best_score, "best_params": gs.best_params}}
    for label, sp in (("optuna", space), ("optuna_grid_ranges", ranges_of(grid))):
        op, o_wall = timed(optuna_search, build, X, y, folds, metric, sp, n_trials=100_000,
                           timeout=budget, random_state=0)
        diff = sign * (op.best_score - gs.best_score)
        started = min(t.datetime_start for t in op.study.trials if t.datetime_start is not None)
        best_at = (op.study.best_trial.datetime_complete - started).total_seconds()    # timeout stops between trials
        res[label] = {"space": sp, "budget_s": budget, "wall_s": o_wall, "best_found_at_s": best_at,
                      "trials": len(op.trials), "states": op.counts(), "best_score": op.best_score,
                      "best_params": op.best_params, "score_diff": diff}
        print(f"  {label:18s} {o_wall:6.1f}s  {len(op.trials)} trials {op.counts()}  best {metric} {op.best_score:.4f} "
              f"({diff:+.4f}) found at {best_at:.1f}s of a {budget:.1f}s budget", flush=True)
    res["score_diff"] = res["optuna"]["score_diff"]
    res["goal"] = "optuna (tune's default space) best >= grid best with a quarter of the time"
    res["met"] = bool(res["score_diff"] >= 0)
    print(f"  goal met: {res['met']}", flush=True)
    return res


def dask_overhead(X, y, folds, build, metric, space):
    from distributed import LocalCluster
    # one thread per fit on both sides: a Dask worker process runs OpenMP single-threaded (as `engine.tune` asks on Dask)
    build = tuning.PipelineBuilder(malgo.make_estimator("xgboost", "classification", random_state=0, n_jobs=1),
                                   build.steps)
    n = int(np.prod([len(v) for v in space.values()]))
    kw = dict(n_trials=n, sampler="grid", pruner="none", random_state=0, rounds_from_curve=False)   # n trials, n fits
    inproc, t_in = timed(optuna_search, build, X, y, folds, metric, space, **kw)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as c:
        optuna_search(build, X, y, folds, metric, space, n_trials=1, pruner="none",
                          dask_address=c.scheduler_address)                        # warm the worker's imports
        on_dask, t_dask = timed(optuna_search, build, X, y, folds, metric, space,
                                dask_address=c.scheduler_address, **kw)
    res = {"trials": n, "in_process_s": t_in, "dask_s": t_dask, "overhead_per_trial_s": (t_dask - t_in) / n,
           "same_best": bool(np.isclose(inproc.best_score, on_dask.best_score))}
    print(f"  in process {t_in:.2f}s, dask {t_dask:.2f}s for {n} trials: {res['overhead_per_trial_s'] * 1000:+.0f} ms "
          f"per trial", flush=True)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: 3k rows, 6 trials, 3 folds, a 4-candidate grid")
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--metric", default="accuracy")
    ap.add_argument("--n-jobs", type=int, default=-1, help="xgboost threads per fit (trials run one at a time)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["pruning", "grid", "dask"])
    ap.add_argument("--out", default=None, help="results file (default: bench/results/tuning.json; none for --quick)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    spec = malgo.get_algorithm("xgboost", "classification")
    space, grid = spec.space["classification"], spec.grid["classification"]
    dask_space = {"max_depth": [3, 4, 5, 6], "n_estimators": [100, 200]}
    if args.quick:
        args.rows, args.trials, args.cv = 3_000, 6, 3
        space = {**space, "n_estimators": {"int": [20, 80], "log": True}}
        grid = {"n_estimators": [50], "max_depth": [3, 6], "learning_rate": [0.03, 0.1]}
        dask_space = {"max_depth": [3, 4], "n_estimators": [30]}
    out = args.out or (None if args.quick else str(RESULTS / "tuning.json"))
    X, y, folds, build = setup(args.rows, args.cv, args.n_jobs)
    import optuna, sklearn, xgboost
    results = {"meta": {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count(),
                        "when": time.strftime("%Y-%m-%d %H:%M:%S"), "optuna": optuna.__version__,
                        "xgboost": xgboost.__version__, "sklearn": sklearn.__version__, "quick": args.quick},
               "config": {"rows": args.rows, "features": X.shape[1], "trials": args.trials, "cv": args.cv,
                          "metric": args.metric, "xgb_n_jobs": args.n_jobs, "space": space, "grid": grid}}
    if out and args.skip and Path(out).exists():      # a partial run keeps the earlier results (each with its "when")
        earlier = json.loads(Path(out).read_text())
        for part in ("pruning", "grid_vs_optuna", "dask"):
            if part in earlier: results[part] = earlier[part]
    if "pruning" not in args.skip:
        print(f"1. pruning: {args.trials} trials, {args.rows} rows, {args.cv}-fold CV", flush=True)
        results["pruning"] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), **pruning(X, y, folds, build, args.metric, args.trials, space)}
    if "grid" not in args.skip:
        print("2. grid search vs optuna with a quarter of its time", flush=True)
        results["grid_vs_optuna"] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), **grid_vs_optuna(X, y, folds, build, args.metric, grid, space)}
    if "dask" not in args.skip:
        print("3. dask LocalCluster (1 worker, 1 thread) vs in process", flush=True)
        results["dask"] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), **dask_overhead(X, y, folds, build, args.metric, dask_space)}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {out}")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
