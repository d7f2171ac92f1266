"""The best model in N seconds, side by side: FLAML's `AutoML` (its default learners) and `engine.automl`.

    python bench/vs_automl.py                                  # the full run: budgets 30,60,180 x 4 tables x 3 seeds
    python bench/vs_automl.py --budgets 10 --tables binary --seeds 0   # a short run (proves it works)
    python bench/vs_automl.py --report                         # only the markdown table, from the JSON

Tables shipped inside installed packages (no download):
- binary:     `statsmodels.datasets.fair` (6,366 rows x 8): had an affair (affairs > 0), ROC AUC
- multiclass: `fair` again, the marriage rating (5 classes) from the other 8 columns, accuracy
- regression: `statsmodels.datasets.randhie` (20,190 rows x 9): log(1 + doctor visits), R^2
- large:      nannyml's synthetic car-loan table, reference and analysis joined (100,000 rows x 10, string
              categoricals): repaid the loan, ROC AUC
- large_regression (only with --tables): nannyml's synthetic car-price table (120,000 rows x 8), R^2

Each table gets one fixed held-out split (25%, seed 0, stratified for classification) that no side sees while it
searches; the score is that metric on those rows (scikit-learn's functions, the same for both sides). Each run (side x
table x budget x seed) is its own process, the table read from a Parquet cache written once, so imports and warm
caches never leak between sides; `wall` is the seconds the side's search-and-fit call took (FLAML's `fit`, our
`automl`, which includes its own split, ensemble and refit), measured in that process. Ours runs untracked (FLAML
tracks nothing either), `random_state=seed`, no held-out split of its own (`split.test_size=0`: it trains on every
row it is given, as FLAML does). FLAML runs with `time_budget`, `metric`, `seed` and its defaults otherwise (every
core, its default learners); AutoGluon is a third side when `autogluon.tabular` imports (`presets="medium_quality"`).

Resumable: results go to bench/results/vs_automl.json after every run, keyed by side/table/budget/seed; a run already
there is not repeated (delete the key, or pass --fresh, to run it again). bench/results/vs_automl.md holds the table.
Run it on an idle machine: every other process on the cores shows up in the scores and the walls.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TABLES = ("binary", "multiclass", "regression", "large")
METRICS = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2", "large": "roc_auc",
           "large_regression": "r2"}


def load_table(name):
    "(X, y, task) of one bench table."
    import numpy as np
    import pandas as pd
    if name in ("binary", "multiclass"):
        from statsmodels.datasets import fair
        f = fair.load_pandas().data.astype(float)
        if name == "binary": return f.drop(columns="affairs"), (f["affairs"] > 0).astype(int).rename("had_affair"), "classification"
        return f.drop(columns="rate_marriage"), f["rate_marriage"].astype(int).rename("rate_marriage"), "classification"
    if name == "regression":
        from statsmodels.datasets import randhie
        r = randhie.load_pandas().data.astype(float)
        return r.drop(columns="mdvis"), np.log1p(r["mdvis"]).rename("log_visits"), "regression"
    import nannyml as nml
    if name == "large":
        ref, ana, tgt = nml.load_synthetic_car_loan_dataset()
        target, drop = "repaid", ["timestamp", "y_pred_proba", "y_pred", "period"]
    elif name == "large_regression":
        ref, ana, tgt = nml.load_synthetic_car_price_dataset()
        target, drop = "y_true", ["timestamp", "y_pred", "period"]
    else: raise SystemExit(f"unknown table {name!r}; tables: {', '.join(METRICS)}")
    ana = ana.merge(tgt, on="id") if "id" in tgt else pd.concat([ana, tgt.drop(columns=[c for c in tgt if c in ana])], axis=1)
    df = pd.concat([ref, ana], ignore_index=True).drop(columns=[c for c in drop + ["id"] if c in ref or c in ana])
    y = df.pop(target)
    return df, (y.astype(int) if name == "large" else y.astype(float)), ("classification" if name == "large" else "regression")


def cached(name, cache: Path):
    "The table's training and held-out parts, from Parquet files written on first use."
    import pandas as pd
    paths = {p: cache / f"{name}_{p}.parquet" for p in ("train", "test")}
    if not all(p.exists() for p in paths.values()):
        from sklearn.model_selection import train_test_split
        X, y, task = load_table(name)
        df = X.assign(__y__=y.values)
        strat = y if task == "classification" else None
        train, test = train_test_split(df, test_size=0.25, random_state=0, stratify=strat)
        cache.mkdir(parents=True, exist_ok=True)
        for part, frame in (("train", train), ("test", test)): frame.to_parquet(paths[part])
    return pd.read_parquet(paths["train"]), pd.read_parquet(paths["test"])


def held_out_score(metric, model, X, y, classes=None):
    "`metric` of `model` on the held-out rows, by scikit-learn."
    import numpy as np
    from sklearn import metrics
    if metric == "r2": return float(metrics.r2_score(y, model.predict(X)))
    if metric == "accuracy": return float(metrics.accuracy_score(y, model.predict(X)))
    proba = np.asarray(model.predict_proba(X))
    return float(metrics.roc_auc_score(y, proba[:, 1] if proba.shape[1] == 2 else proba, multi_class="ovr"))


def run_ours(X, y, task, metric, budget, seed):
    from mltrain_nb.engine import MLTrainingEngine
    engine = MLTrainingEngine(progress=False, tracking={"enabled": False}, random_state=seed,
                              split={"test_size": 0.0}, task=task)
    t = time.perf_counter()
    r = engine.automl(X, y, time_budget=budget, metric=metric, seed=seed)
    wall = time.perf_counter() - t
    return r.best_model, wall, {"trials": int(len(r.history)), "ensemble": r.ensemble,
                                "learners": r.learners["trials"].to_dict(), "skipped": r.skipped}


def run_flaml(X, y, task, metric, budget, seed):
    from flaml import AutoML
    automl = AutoML()
    t = time.perf_counter()
    automl.fit(X, y, task=task, metric=metric, time_budget=budget, seed=seed, verbose=0)
    wall = time.perf_counter() - t
    return automl, wall, {"best_learner": automl.best_estimator, "best_config": automl.best_config}


def run_autogluon(X, y, task, metric, budget, seed):
    import tempfile
    from autogluon.tabular import TabularPredictor
    ag_metric = {"roc_auc": "roc_auc", "accuracy": "accuracy", "r2": "r2"}[metric]
    df = X.assign(__y__=y.values)
    t = time.perf_counter()
    p = TabularPredictor("__y__", eval_metric=ag_metric, path=tempfile.mkdtemp(), verbosity=0).fit(
        df, time_limit=budget, presets="medium_quality")
    wall = time.perf_counter() - t
    class _Model:   # predict / predict_proba on a frame without the label
        def predict(self, X): return p.predict(X).values
        def predict_proba(self, X): return p.predict_proba(X).values
    return _Model(), wall, {"best": p.model_best}


SIDES = {"ours": run_ours, "flaml": run_flaml, "autogluon": run_autogluon}


def one(job):
    "Run one side on one table (in this process); print its record as JSON."
    warnings.filterwarnings("ignore")
    train, test = cached(job["table"], Path(job["cache"]))
    y, Xt = train.pop("__y__"), test.drop(columns="__y__")
    task = "classification" if METRICS[job["table"]] != "r2" else "regression"
    model, wall, info = SIDES[job["side"]](train, y, task, METRICS[job["table"]], job["budget"], job["seed"])
    score = held_out_score(METRICS[job["table"]], model, Xt, test["__y__"])
    print("RESULT " + json.dumps({**job, "score": score, "wall": wall, "metric": METRICS[job["table"]],
                                  "rows": len(train), "info": info}, default=str), flush=True)


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_results(path: Path, results: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def markdown(results: dict) -> str:
    "Mean held-out score (and mean wall seconds) per table, budget and side, over the seeds."
    import numpy as np
    rows, sides = {}, sorted({r["side"] for r in results.values()})
    for r in results.values():
        if "score" in r: rows.setdefault((r["table"], r["budget"]), {}).setdefault(r["side"], []).append(r)
    lines = ["| table (metric) | budget | " + " | ".join(f"{s} score (wall s)" for s in sides) + " | seeds |",
             "|---|---|" + "---|" * len(sides) + "---|"]
    for (table, budget), by in sorted(rows.items(), key=lambda kv: (TABLES.index(kv[0][0]) if kv[0][0] in TABLES
                                                                    else 99, kv[0][1])):
        cells = []
        for s in sides:
            rs = by.get(s, [])
            if not rs: cells.append("-"); continue
            sc, wl = [r["score"] for r in rs], [r["wall"] for r in rs]
            sd = f" ± {np.std(sc, ddof=1):.4f}" if len(sc) > 1 else ""
            cells.append(f"{np.mean(sc):.4f}{sd} ({np.mean(wl):.1f})")
        seeds = max(len(v) for v in by.values())
        lines.append(f"| {table} ({METRICS[table]}) | {budget:g} s | " + " | ".join(cells) + f" | {seeds} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", default="30,60,180", help="seconds, comma-separated (default 30,60,180)")
    ap.add_argument("--tables", default=",".join(TABLES), help=f"comma-separated (default {','.join(TABLES)})")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    ap.add_argument("--sides", default="ours,flaml,autogluon", help="comma-separated; autogluon is skipped "
                    "when it does not import (default ours,flaml,autogluon)")
    ap.add_argument("--out", default=str(RESULTS / "vs_automl.json"))
    ap.add_argument("--cache", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "mltrain_vs_automl"),
                    help="where the tables' Parquet parts are kept between runs")
    ap.add_argument("--fresh", action="store_true", help="run again what the JSON already holds")
    ap.add_argument("--report", action="store_true", help="only write the markdown table from the JSON")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one: return one(json.loads(a.one))
    out = Path(a.out)
    results = {} if a.fresh and not a.report else load_results(out)
    sides = [s.strip() for s in a.sides.split(",") if s.strip()]
    if "autogluon" in sides and subprocess.run([sys.executable, "-c", "import autogluon.tabular"],
                                               capture_output=True).returncode != 0:
        print("autogluon.tabular does not import here: its column is left out")
        sides.remove("autogluon")
    jobs = [] if a.report else [
        {"side": s, "table": t, "budget": float(b), "seed": int(seed), "cache": a.cache}
        for t in a.tables.split(",") for b in a.budgets.split(",") for seed in a.seeds.split(",") for s in sides]
    for job in jobs:
        key = f"{job['side']}/{job['table']}/{job['budget']:g}/{job['seed']}"
        if key in results and "score" in results[key]: continue
        print(f"{key} ...", end=" ", flush=True)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, __file__, "--one", json.dumps(job)], capture_output=True, text=True,
                           timeout=job["budget"] * 4 + 600)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        rec = json.loads(line[-1][7:]) if line else {**job, "error": (p.stderr or p.stdout)[-2000:]}
        rec.pop("cache", None)
        rec["process_seconds"] = time.perf_counter() - t
        results[key] = rec
        print(f"score {rec['score']:.4f}, wall {rec['wall']:.1f}s" if "score" in rec else "FAILED: "
              + rec["error"].strip().splitlines()[-1] if rec["error"].strip() else "FAILED")
        out.parent.mkdir(parents=True, exist_ok=True)
        save_results(out, results)
    md = out.with_suffix(".md")
    md.write_text("# engine.automl vs FLAML AutoML (held-out score, mean wall seconds)\n\n" + markdown(results))
    print(md.read_text())


if __name__ == "__main__":
    main()
