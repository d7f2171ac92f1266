"""Engine overhead: `MLTrainingEngine.train_model` vs scikit-learn doing the same work by hand.

The same work is: the identical pipeline (the engine's preprocessing and estimator), the same CV folds on
the same training rows, the same metrics per fold (as scikit-learn scorers), a final fit on all training
rows, and scoring the held-out rows. Both run in one process, alternating, best of `--repeat` runs.

    python bench/engine_overhead.py            # writes bench/results/engine_overhead.json and .md
    python bench/engine_overhead.py --quick    # smaller data, for a smoke run

Goal: ratio (engine / raw) <= 1.10.
"""
import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mltrain_nb import algorithms as malgo
from mltrain_nb import data as mdata
from mltrain_nb import evaluation as meval
from mltrain_nb.engine import MLTrainingEngine

RESULTS = Path(__file__).parent / "results"


def synthetic(n_rows, n_features=20, seed=0):
    "A classification frame: numeric features, two string categoricals, a few missing values, string labels."
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n_rows, n_features=n_features - 2, n_informative=10, random_state=seed)
    df = pd.DataFrame(X, columns=[f"num{i}" for i in range(n_features - 2)])
    rng = np.random.default_rng(seed)
    df["region"] = pd.Series(rng.choice(["north", "south", "east", "west"], n_rows), dtype="str")
    df["plan"] = pd.Series(rng.choice([f"p{i}" for i in range(30)], n_rows), dtype="str")
    df.loc[rng.random(n_rows) < 0.02, "num0"] = np.nan
    return df, pd.Series(np.where(y == 1, "churn", "stay"), name="label")


def raw_sklearn(engine, X, y, algorithm):
    "cross_validate + final fit + held-out scoring of the engine's own pipeline, on the engine's folds."
    from sklearn.base import clone
    from sklearn.model_selection import cross_validate
    cfg = engine.config
    split = mdata.DataPreparation(cfg.random_state).split_data(X, y, test_size=cfg.split.test_size, strategy="stratified",
                                                              task="classification")
    folds = list(mdata.cv_splitter("stratified", cfg.cv, True, cfg.random_state).split(split.X_train, split.y_train))
    est = malgo.make_estimator(algorithm, "classification", random_state=cfg.random_state, n_jobs=cfg.n_jobs)
    pipe = engine._pipeline(split.X_train, est)
    scoring = {m: meval.sklearn_scorer(m, "classification") for m in meval.metric_names("classification")}
    t0 = time.perf_counter()
    cv = cross_validate(pipe, split.X_train, split.y_train, cv=folds, scoring=scoring, n_jobs=1)
    final = clone(pipe).fit(split.X_train, split.y_train)
    final.predict(split.X_test); final.predict_proba(split.X_test)
    return time.perf_counter() - t0, float(np.mean(cv["test_accuracy"]))


def engine_run(engine, X, y, algorithm):
    t0 = time.perf_counter()
    res = engine.train_model(X, y, algorithm)
    return time.perf_counter() - t0, res["cv_mean"]


def bench(name, X, y, algorithm, repeat, cv):
    # tracking off: this measures the engine's own work; bench/tracking_overhead.py measures what tracking adds
    engine = MLTrainingEngine(cv=cv, progress=False, tracking={"enabled": False})
    engine.task = "classification"
    raw_times, eng_times = [], []
    engine_run(engine, X, y, algorithm); raw_sklearn(engine, X, y, algorithm)   # warm imports and caches
    for _ in range(repeat):
        t, raw_score = raw_sklearn(engine, X, y, algorithm); raw_times.append(t)
        t, eng_score = engine_run(engine, X, y, algorithm); eng_times.append(t)
    row = {"case": name, "algorithm": algorithm, "rows": len(X), "features": X.shape[1], "cv": cv,
           "raw_s": min(raw_times), "engine_s": min(eng_times), "ratio": min(eng_times) / min(raw_times),
           "raw_cv_accuracy": raw_score, "engine_cv_accuracy": eng_score}
    print(f"{name:32s} {algorithm:20s} raw {row['raw_s']:7.2f}s  engine {row['engine_s']:7.2f}s  ratio {row['ratio']:.3f}"
          f"  (cv acc {raw_score:.4f} / {eng_score:.4f})", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20k rows instead of 100k, one repeat")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    repeat = 1 if args.quick else args.repeat
    big = 20_000 if args.quick else 100_000
    rows = []
    from sklearn.datasets import load_breast_cancer
    bc = load_breast_cancer(as_frame=True)
    small_y = bc.target.map({0: "malignant", 1: "benign"})
    for algo in ("logistic_regression", "random_forest", "lightgbm"):
        rows.append(bench("breast_cancer 569x30", bc.data, small_y, algo, max(repeat, 3), 5))
    X, y = synthetic(big)
    for algo in ("logistic_regression", "lightgbm"):
        rows.append(bench(f"synthetic {big}x20", X, y, algo, repeat, 5))
    RESULTS.mkdir(exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cores": __import__("os").cpu_count(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    (RESULTS / "engine_overhead.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    cols = ["case", "algorithm", "raw_s", "engine_s", "ratio"]
    table = "\n".join(["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)] +
                      ["| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |" for r in rows])
    (RESULTS / "engine_overhead.md").write_text(f"# Engine overhead ({meta['when']}, {meta['cores']} cores)\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
