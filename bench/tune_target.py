"""The tuning target, kept as a regression check: `tune` at 10 s within 2 SE of plain Optuna at 30 s, and never below
plain Optuna at 10 s, on vs_flaml.py's binary table (issue 32 restates the last performance issue's target).

    pip install statsmodels                      # the tables (as for vs_flaml.py)
    python bench/tune_target.py                  # seeds 0-3: ours 10 s, plain Optuna 10 s and 30 s (~5 min idle)
    python bench/tune_target.py --seeds 0-7 --task binary
    python bench/tune_target.py --stored         # no search: the check on tune_seeds.py's stored results

Each side is `tune_seeds.py`'s (vs_flaml.py's `run_ours` / `run_optuna`: lightgbm, one thread per fit, the same space,
tracking off), run with every seed, and every best configuration scored by vs_flaml.py's fresh referee (5 x 5-fold CV on
folds no side selected on). The check is on the means over the seeds, with SE the standard error of the difference of
two means, sqrt(s1^2/n1 + s2^2/n2), s the standard deviation of the fresh scores over the seeds:
- `ours_10s_mean >= optuna_30s_mean - 2 * SE(ours_10s, optuna_30s)`
- `ours_10s_mean >= optuna_10s_mean`
Writes `bench/results/tune_target.json` (the runs, the means, the verdicts) and exits 1 when a target is missed, so it
can gate a change to the search. The runs also go to `tune_seeds_<side>_<budget>s_target.json` in tune_seeds.py's
format, for `tune_seeds.py --rescore`.
"""
import argparse
import json
import math
import statistics as st
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import tune_seeds          # noqa: E402  (the runs and their summary)
import vs_flaml as vf      # noqa: E402  (the tasks, the sides, the referees)

SIDES = (("ours", 10.0), ("optuna", 10.0), ("optuna", 30.0))


def seeds_of(text: str) -> list:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def run_side(side: str, budget: float, task: str, seeds: list) -> list:
    X, y, kind, metric = vf.datasets()[task]
    run = vf.run_ours if side == "ours" else vf.run_optuna
    rows = []
    for seed in seeds:
        r = run(X, y, kind, metric, budget, seed)
        r["seed"] = seed
        r["fresh_referee_score"], r["fresh_referee_se"] = vf.fresh_referee(X, y, kind, metric, r["params"])
        print(f"{task} {side} {budget:g}s seed {seed}: wall {r['wall_s']:.2f}s  fresh {r['fresh_referee_score']:.4f}"
              f"  trials {r.get('trials')}", flush=True)
        rows.append(r)
    return rows


def stored(side: str, budget: float, task: str) -> list:
    "The runs tune_seeds.py stored for this side (every file of it: the seeds 0-7 and 8-15 files)."
    rows = []
    for path in sorted(vf.RESULTS.glob(f"tune_seeds_{side}_{budget:g}s*.json")):
        rows += json.loads(path.read_text())["tasks"].get(task, {}).get("runs", [])
    return list({r["seed"]: r for r in rows}.values())     # one run per seed


def verdict(runs: dict) -> dict:
    "The two targets on the fresh referee's means over the seeds."
    score = {k: [r["fresh_referee_score"] for r in v] for k, v in runs.items()}
    mean = {k: st.mean(v) for k, v in score.items()}
    se = math.sqrt(sum(st.variance(score[k]) / len(score[k]) if len(score[k]) > 1 else 0.0
                       for k in ("ours_10s", "optuna_30s")))
    return {"means": mean, "n_seeds": {k: len(v) for k, v in score.items()}, "se_ours10_optuna30": se,
            "ours10_minus_optuna30": mean["ours_10s"] - mean["optuna_30s"],
            "ours10_minus_optuna10": mean["ours_10s"] - mean["optuna_10s"],
            "within_2se_of_optuna30": mean["ours_10s"] >= mean["optuna_30s"] - 2 * se,
            "not_below_optuna10": mean["ours_10s"] >= mean["optuna_10s"],
            "wall_over_budget_ours10": max(r["wall_s"] for r in runs["ours_10s"]) / 10.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="binary", choices=["binary", "multiclass", "regression"])
    ap.add_argument("--seeds", default="0-3", help="0-3 or 0,2,5")
    ap.add_argument("--stored", action="store_true", help="no search: check tune_seeds.py's stored results")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    runs = {}
    for side, budget in SIDES:
        key = f"{side}_{budget:g}s"
        runs[key] = stored(side, budget, a.task) if a.stored else run_side(side, budget, a.task, seeds_of(a.seeds))
        if not runs[key]: sys.exit(f"no stored runs for {key} on {a.task}: run without --stored")
        if not a.stored:
            out = vf.RESULTS / f"tune_seeds_{key}_target.json"
            out.write_text(json.dumps({"tasks": {a.task: tune_seeds.summary(runs[key])}, "seeds": seeds_of(a.seeds),
                                       "budget": budget, "side": side, "when": time.strftime("%Y-%m-%d %H:%M:%S")},
                                      indent=2, default=str))
    v = verdict(runs)
    print(json.dumps(v, indent=2))
    vf.RESULTS.mkdir(exist_ok=True)
    (vf.RESULTS / ("tune_target_stored.json" if a.stored else "tune_target.json")).write_text(json.dumps(
        {"task": a.task, "verdict": v, "stored": a.stored, "when": time.strftime("%Y-%m-%d %H:%M:%S")},
        indent=2, default=str))
    sys.exit(0 if v["within_2se_of_optuna30"] and v["not_below_optuna10"] else 1)


if __name__ == "__main__":
    main()
