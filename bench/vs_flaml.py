"""Tuning per second of budget, side by side: FLAML and plain Optuna at 10 s and 30 s, `engine.tune` at 10 s (and 30 s).

    pip install flaml statsmodels   # not dependencies of mltrain_nb; only this script needs them
    python bench/vs_flaml.py     # writes bench/results/vs_flaml.json
    python bench/vs_flaml.py --rescore   # only the fresh referee again, on the configurations stored there

Three tasks on tables that ship inside an installed package, statsmodels (`pip install statsmodels`; no download),
lightgbm on every side, one thread per fit (n_jobs=1) on every side, tracking off for ours:
- binary:     `statsmodels.datasets.fair` (6,366 rows x 8): had an affair (affairs > 0), ROC AUC
- multiclass: `fair` again, the marriage rating (5 classes) from the other 8 columns, accuracy
- regression: `statsmodels.datasets.randhie` (20,190 rows x 9): log(1 + doctor visits), R^2

Each side's *own* CV score is on its own folds; so every side's best configuration is also scored by two referees, on
the full data, with an LGBM of that configuration:
- `referee_score`: 5-fold CV on the folds plain Optuna and ours select on (KFold/StratifiedKFold, seed 0). A side that
  tried more configurations on exactly these folds gets the best of more noisy draws (the winner's curse), so this
  referee favours it.
- `fresh_referee_score`: 5 x 5-fold CV on folds no side selected on (seeds 101-105), with `fresh_referee_se`, the
  standard error of its mean over the 5 repeats: the score a configuration can be expected to keep on new rows. Each
  repeat also fits the LGBM with a new seed (its fold seed): with `subsample` or `colsample_bytree` below 1 a fit's
  score moves with the model seed, and one seed for every repeat (0 until 2026-12-02) added that seed's luck, the same
  in all 5 repeats and so missing from the standard error. (Fold seeds 1-3 until 2026-12-01: `tune_seeds.py` selects
  with seeds 0-7, so plain Optuna's seeds 1-3 selected on a referee's folds.)
Sides run one after the other in this one process (the machine may be shared: compare sides of the same run).
"""
import json
import os
import sys
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
BUDGETS = (10, 30)


def datasets():
    "The three tasks, from the tables statsmodels ships (see above)."
    import numpy as np
    from statsmodels.datasets import fair, randhie
    f = fair.load_pandas().data.astype(float)
    r = randhie.load_pandas().data.astype(float)
    return {"binary": (f.drop(columns="affairs"), (f["affairs"] > 0).astype(int).rename("had_affair"), "classification", "roc_auc"),
            "multiclass": (f.drop(columns="rate_marriage"), f["rate_marriage"].astype(int).rename("rate_marriage"),
                           "classification", "accuracy"),
            "regression": (r.drop(columns="mdvis"), np.log1p(r["mdvis"]).rename("log_visits"), "regression", "r2")}


def folds(X, y, task, seed=0):
    from sklearn.model_selection import KFold, StratifiedKFold
    cv = (StratifiedKFold if task == "classification" else KFold)(5, shuffle=True, random_state=seed)
    return list(cv.split(X, y))


def lgbm(task, params, seed=0):
    import lightgbm as lgb
    cls = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
    return cls(**{**params, "verbose": -1, "n_jobs": 1, "random_state": seed})


def referee(X, y, task, metric, params, seed=0, model_seed=0):
    from sklearn.model_selection import cross_val_score
    return float(cross_val_score(lgbm(task, params, model_seed), X, y, cv=folds(X, y, task, seed), scoring=metric).mean())


FRESH_SEEDS = (101, 102, 103, 104, 105)   # above any seed tune_seeds.py selects with
COMPARED = (("ours_10s", "flaml_30s"), ("ours_10s", "optuna_30s"), ("ours_10s", "optuna_10s"), ("ours_30s", "optuna_30s"))


def fresh_referee(X, y, task, metric, params):
    "(mean, standard error over the repeats) of 5-fold CV on folds drawn with seeds no side selected on."
    import numpy as np
    means = [referee(X, y, task, metric, params, seed, model_seed=seed) for seed in FRESH_SEEDS]
    return float(np.mean(means)), float(np.std(means, ddof=1) / np.sqrt(len(means)))


def lgb_params(est):
    keep = ("n_estimators", "num_leaves", "learning_rate", "colsample_bytree", "subsample", "subsample_freq",
            "min_child_samples", "reg_lambda", "reg_alpha", "max_depth", "min_child_weight", "max_bin")
    p = est.get_params()
    return {k: p[k] for k in keep if k in p and p[k] is not None}


def run_flaml(X, y, task, metric, budget):
    from flaml import AutoML
    m = {"roc_auc": "roc_auc", "accuracy": "accuracy", "r2": "r2"}[metric]
    automl = AutoML()
    t = time.perf_counter()
    automl.fit(X, y, task=task, metric=m, time_budget=budget, estimator_list=["lgbm"], eval_method="cv", n_splits=5,
               seed=0, verbose=0, n_jobs=1)
    wall = time.perf_counter() - t
    return {"wall_s": wall, "own_score": 1 - automl.best_loss, "params": lgb_params(automl.model.estimator)}


SPACE = {"n_estimators": ("int", 50, 500, True), "num_leaves": ("int", 8, 128, True),
         "learning_rate": ("float", 0.01, 0.3, True), "colsample_bytree": ("float", 0.5, 1.0, False),
         "subsample": ("float", 0.5, 1.0, False), "subsample_freq": ("int", 0, 5, False),
         "min_child_samples": ("int", 5, 50, False), "reg_lambda": ("float", 1e-3, 10.0, True)}   # tune's default space


def run_optuna(X, y, task, metric, budget, seed=0):
    import optuna
    from sklearn.model_selection import cross_val_score
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cv = folds(X, y, task, seed)
    def objective(trial):
        p = {k: (trial.suggest_int if kind == "int" else trial.suggest_float)(k, lo, hi, log=log)
             for k, (kind, lo, hi, log) in SPACE.items()}
        return cross_val_score(lgbm(task, p), X, y, cv=cv, scoring=metric).mean()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    t = time.perf_counter()
    study.optimize(objective, timeout=budget)
    wall = time.perf_counter() - t
    return {"wall_s": wall, "own_score": study.best_value, "params": study.best_params, "trials": len(study.trials)}


def run_ours(X, y, task, metric, budget, seed=0):
    from mltrain_nb.algorithms import final_estimator
    from mltrain_nb.engine import MLTrainingEngine
    eng = MLTrainingEngine(cv=5, n_jobs=1, progress=False, metric=metric, random_state=seed, split={"test_size": 0.0},
                           tracking={"enabled": False})
    t = time.perf_counter()
    tr = eng.tune(X, y, "lightgbm", n_trials=100_000, timeout=budget)
    wall = time.perf_counter() - t
    return {"wall_s": wall, "own_score": tr.best_score, "params": lgb_params(final_estimator(tr.model[-1])),
            "trials": len(tr.trials), "counts": tr.counts()}


def targets(d):
    "The compared differences of one dataset's sides `d` ({'ours_10s': run, ...})."
    short = lambda side: side.replace("_", "")[:-1]   # "ours_10s" -> "ours10"
    out = {f"{prefix}{short(a)}_minus_{short(b)}": d[a][score] - d[b][score]
           for prefix, score in (("", "referee_score"), ("fresh_", "fresh_referee_score")) for a, b in COMPARED}
    out["ours10_wall_over_budget"] = d["ours_10s"]["wall_s"] / 10
    return out


def rescore(runs, X, y, task, metric):
    "Score every stored run's configuration again with this file's fresh referee (no search); returns the runs."
    for r in runs:
        if "params" in r: r["fresh_referee_score"], r["fresh_referee_se"] = fresh_referee(X, y, task, metric, r["params"])
    return runs


def rescore_file(path):
    "`python bench/vs_flaml.py --rescore`: results/vs_flaml.json's fresh referee scores and targets, by the current referee."
    doc = json.loads(path.read_text())
    for name, (X, y, task, metric) in datasets().items():
        d = doc["datasets"].get(name)
        if not d: continue
        rescore([r for k, r in d.items() if k != "targets"], X, y, task, metric)
        d["targets"] = targets(d)
        print(name, json.dumps({k: round(v, 4) for k, v in d["targets"].items()}), flush=True)
    doc["rescored"] = time.strftime("%Y-%m-%d %H:%M:%S")
    path.write_text(json.dumps(doc, indent=2, default=str))


def main():
    warnings.simplefilter("ignore")
    if sys.argv[1:] == ["--rescore"]: return rescore_file(RESULTS / "vs_flaml.json")
    sides = [("flaml", run_flaml, BUDGETS), ("optuna", run_optuna, BUDGETS), ("ours", run_ours, BUDGETS)]
    only = sys.argv[1:]   # optional dataset names
    res = {}
    for name, (X, y, task, metric) in datasets().items():
        if only and name not in only: continue
        res[name] = {}
        for side, fn, budgets in sides:
            for b in budgets:
                try:
                    r = fn(X, y, task, metric, b)
                    r["referee_score"] = referee(X, y, task, metric, r["params"])
                    r["fresh_referee_score"], r["fresh_referee_se"] = fresh_referee(X, y, task, metric, r["params"])
                except Exception as e:   # recorded, and the other sides still run
                    r = {"error": f"{type(e).__name__}: {e}", "wall_s": float("nan"), "own_score": float("nan"),
                         "referee_score": float("nan"), "fresh_referee_score": float("nan"), "fresh_referee_se": float("nan")}
                res[name][f"{side}_{b}s"] = r
                print(f"{name:10s} {side:6s} {b:3d}s  wall {r['wall_s']:6.2f}s ({r['wall_s'] / b:.3f}x)  own {r['own_score']:.4f}"
                      f"  referee {r['referee_score']:.4f}  fresh {r['fresh_referee_score']:.4f} (se {r['fresh_referee_se']:.4f})" + (f"  trials {r['trials']}" if "trials" in r else ""), flush=True)
        d = res[name]
        d["targets"] = targets(d)
        print(name, json.dumps({k: round(v, 4) for k, v in d["targets"].items()}), flush=True)
        RESULTS.mkdir(exist_ok=True)   # written after each dataset: a long run keeps what it measured
        out = RESULTS / ("vs_flaml.json" if not only else f"vs_flaml_{'_'.join(only)}.json")
        out.write_text(json.dumps({"datasets": res, "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                                   "when": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2, default=str))


if __name__ == "__main__":
    main()
