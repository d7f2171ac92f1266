"""Budgets on a busy machine: `engine.tune(timeout=T)` (and `engine.automl(time_budget=T)` where it exists) idle and
beside CPU-bound burner processes.

    pip install statsmodels            # holds the table (as for vs_flaml.py)
    python bench/contention.py                      # tune, 10 s, idle then 2 burners; writes bench/results/contention.json
    python bench/contention.py --budget 10 --burners 2 --repeats 2 --automl
    python bench/contention.py --quick              # a 3 s smoke run; writes nothing unless --out is given

Issue 32 measured `tune(timeout=10)` on a 6k-row table running 14.8 s and 23.6 s beside two CPU-bound processes: its
first trial took 13 s and could not be stopped (LightGBM on every core: OpenMP threads that wait for one another at
each boosting round stall when another process holds a core). The table is `statsmodels.datasets.fair` (6,366 rows x
8, binary: had an affair, ROC AUC), the engine as a user gets it (`n_jobs` left at its default -1, 5-fold CV, tracking
off, no progress bar), `lightgbm` with the catalog's space.

The script starts the burners itself (`python -c "while True: pass"`, one process each), waits a second so they hold
their cores, runs the same call, and stops them (also on Ctrl-C or an error). Each measurement is a fresh Python
process (`--one`), so nothing is warm from the other side. Targets (issue 32, item 3):
- wall time at most 1.05 x the budget, idle and beside the burners;
- trials beside the burners at least 80% of the idle count.
The load average and the CPU count are written with the results: on a shared machine the idle side is not idle.

Beside ours, the same run measures (`--raw`, on by default):
- `optuna`: plain Optuna over the same table and space, LightGBM one thread per fit (vs_flaml.py's `run_optuna`), the
  raw libraries doing the same work;
- `optuna_all_threads`: the same with LightGBM's default threads, the case the issue measured;
- `cpu_loop`: one Python thread counting loop rounds for the budget. Its busy/idle ratio is the share of a core the
  scheduler gives one thread beside the burners (with b burners on c cores, c / (b + 1) of a core, so 2/3 here): the
  bound of any single-threaded search. A process running k threads gets c*k / (k + b) cores of its idle min(k, c);
  80% of the idle count beside two burners on two cores takes k >= 8 runnable threads, that is taking the cores from
  the other work. `trials_ratio_of_bound` is each call's ratio over this bound.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
HERE = Path(__file__).parent


def table():
    "The 6k-row binary table of vs_flaml.py."
    sys.path.insert(0, str(HERE))
    import vs_flaml
    X, y, task, metric = vs_flaml.datasets()["binary"]
    return X, y, metric


def cpu_loop(budget: float) -> dict:
    "Rounds of a pure-Python loop in one thread for `budget` seconds: this process's share of a core."
    t, rounds = time.perf_counter(), 0
    while time.perf_counter() - t < budget:
        sum(range(10_000))
        rounds += 1
    return {"wall_s": time.perf_counter() - t, "trials": rounds, "score": None}


def raw_optuna(budget: float, seed: int, threads: int | None) -> dict:
    "Plain Optuna + LightGBM on the table (vs_flaml.py's search); `threads` None: LightGBM's default."
    import optuna
    import vs_flaml as vf
    from sklearn.model_selection import cross_val_score
    X, y, metric = table()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cv = vf.folds(X, y, "classification", seed)
    def objective(trial):
        p = {k: (trial.suggest_int if kind == "int" else trial.suggest_float)(k, lo, hi, log=log)
             for k, (kind, lo, hi, log) in vf.SPACE.items()}
        model = vf.lgbm("classification", p, seed)
        if threads is None: model.set_params(n_jobs=None)
        return cross_val_score(model, X, y, cv=cv, scoring=metric).mean()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    t = time.perf_counter()
    study.optimize(objective, timeout=budget)
    wall = time.perf_counter() - t
    complete = sum(tr.state == optuna.trial.TrialState.COMPLETE for tr in study.trials)
    return {"wall_s": wall, "trials": len(study.trials), "complete": complete, "score": study.best_value}


def one(kind: str, budget: float, seed: int) -> dict:
    "One call in this process: its wall time, trial count and score."
    import warnings
    warnings.simplefilter("ignore")
    if kind == "cpu_loop": return cpu_loop(budget)
    if kind in ("optuna", "optuna_all_threads"): return raw_optuna(budget, seed, 1 if kind == "optuna" else None)
    from mltrain_nb.engine import MLTrainingEngine
    X, y, metric = table()
    eng = MLTrainingEngine(cv=5, progress=False, metric=metric, random_state=seed, tracking={"enabled": False})
    t = time.perf_counter()
    if kind == "tune":
        r = eng.tune(X, y, "lightgbm", n_trials=100_000, timeout=budget)
        wall = time.perf_counter() - t
        states = r.trials["state"].value_counts().to_dict()
        out = {"wall_s": wall, "trials": len(r.trials), "complete": int(states.get("COMPLETE", 0)),
               "score": r.best_score, "folds_scored": (r.result.tuning or {}).get("folds_scored")}
    else:
        r = eng.automl(X, y, time_budget=budget)
        wall = time.perf_counter() - t
        out = {"wall_s": wall, "trials": len(r.history), "complete": int((r.history.state == "COMPLETE").sum()),
               "score": r._cv(), "members": len(r.ensemble)}
    eng.shutdown()
    return out


def burners(n: int) -> list:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def measure(kind: str, budget: float, seed: int, n_burners: int) -> dict:
    "One call in a fresh process, beside `n_burners` burner processes."
    procs = burners(n_burners)
    try:
        if procs: time.sleep(1.0)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, __file__, "--one", kind, "--budget", str(budget), "--seed", str(seed)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=budget * 10 + 120)
        if res.returncode:
            return {"error": res.stderr[-2000:]}
        return json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        stop(procs)


def summary(idle: list, busy: list, budget: float) -> dict:
    import statistics as st
    ok = lambda rows: [r for r in rows if "error" not in r]
    i, b = ok(idle), ok(busy)
    if not i or not b: return {"error": "a side failed"}
    over = max(r["wall_s"] for r in i + b) / budget
    out = {"worst_wall_over_budget": over, "idle_wall_mean": st.mean(r["wall_s"] for r in i),
           "busy_wall_mean": st.mean(r["wall_s"] for r in b), "wall_target_met": over <= 1.05}
    if all(r.get("trials") is not None for r in i + b):
        ratio = st.mean(r["trials"] for r in b) / max(1e-9, st.mean(r["trials"] for r in i))
        out.update(trials_ratio=ratio, trials_target_met=ratio >= 0.8)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=10)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--automl", action="store_true", help="also engine.automl(time_budget=budget)")
    ap.add_argument("--no-raw", dest="raw", action="store_false",
                    help="only ours: no plain Optuna sides and no cpu_loop bound")
    ap.add_argument("--quick", action="store_true", help="3 s budget, one repeat, nothing written")
    ap.add_argument("--out", help="results file name under bench/results (default contention.json)")
    ap.add_argument("--one", choices=["tune", "automl", "optuna", "optuna_all_threads", "cpu_loop"], help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.budget, a.seed), default=str))
        return
    if a.quick: a.budget, a.repeats = 3.0, 1
    kinds = (["cpu_loop"] if a.raw else []) + ["tune"] + (["automl"] if a.automl else []) + \
        (["optuna", "optuna_all_threads"] if a.raw else [])
    doc = {"budget": a.budget, "burners": a.burners, "cpus": os.cpu_count(),
           "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
           "load_avg_before": os.getloadavg(), "when": time.strftime("%Y-%m-%d %H:%M:%S"), "calls": {}}
    for kind in kinds:
        rows = {"idle": [], "busy": []}
        for rep in range(a.repeats):
            for side, n in (("idle", 0), ("busy", a.burners)):
                r = measure(kind, a.budget, a.seed + rep, n)
                rows[side].append(r)
                print(f"{kind:6s} {side:4s} rep {rep}: " + (r["error"][-300:] if "error" in r else
                      f"wall {r['wall_s']:.2f}s ({r['wall_s'] / a.budget:.3f}x)  trials {r['trials']}  "
                      f"score {r['score']}" + (f"  folds_scored {r['folds_scored']}" if r.get("folds_scored") else "")),
                      flush=True)
        s = summary(rows["idle"], rows["busy"], a.budget)
        print(kind, json.dumps(s), flush=True)
        doc["calls"][kind] = {**rows, "summary": s}
    bound = doc["calls"].get("cpu_loop", {}).get("summary", {}).get("trials_ratio")
    if bound:
        for kind, call in doc["calls"].items():
            if kind != "cpu_loop" and "trials_ratio" in call["summary"]:
                call["summary"]["trials_ratio_of_bound"] = call["summary"]["trials_ratio"] / bound
        doc["fair_share_bound"] = bound
        print("fair-share bound (cpu_loop busy/idle):", round(bound, 3), {k: round(c["summary"].get(
            "trials_ratio_of_bound", 0), 3) for k, c in doc["calls"].items() if k != "cpu_loop"}, flush=True)
    doc["load_avg_after"] = os.getloadavg()
    if a.quick and not a.out: return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / (a.out or "contention.json")).write_text(json.dumps(doc, indent=2, default=str))


if __name__ == "__main__":
    main()
