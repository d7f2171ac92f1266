"""`engine.tune` at one budget over several seeds: how much of a `vs_flaml.py` difference is the seed.

    pip install flaml statsmodels   # as for vs_flaml.py (statsmodels holds the tables)
    python bench/tune_seeds.py                          # ours, 10 s, seeds 0-3, the three tasks
    python bench/tune_seeds.py --side optuna --budget 30 --seeds 1,2 regression

`vs_flaml.py` runs every side once, with seed 0. On these tables the best score one 10 s search reaches moves by more
than the differences between the sides (0.005 R^2 on `randhie` between seeds), so a single run cannot say whether a
change to the search helped. This script runs one side (ours, or plain Optuna with the same space) with the engine's
`random_state` (ours: sampler and folds) or the sampler's seed and the folds' seed (Optuna) set to each seed, and scores
every best configuration with `vs_flaml.py`'s referees. Writes `bench/results/tune_seeds_<side>_<budget>s.json`
(or `--out NAME`). `--rescore FILE...` runs no search: it scores the stored configurations with the current referee.
"""
import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import vs_flaml as vf   # the tasks, the sides, the referees


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tasks", nargs="*", default=["binary", "multiclass", "regression"])
    ap.add_argument("--side", choices=["ours", "optuna"], default="ours")
    ap.add_argument("--budget", type=float, default=10)
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--out", help="results file name under bench/results (default tune_seeds_<side>_<budget>s.json)")
    ap.add_argument("--rescore", nargs="+", metavar="FILE",
                    help="no search: score the configurations stored in these bench/results files again with the "
                         "current fresh referee, and rewrite them")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    if a.rescore: return rescore(a.rescore)
    run = vf.run_ours if a.side == "ours" else vf.run_optuna   # with each seed for folds and sampler
    seeds = [int(s) for s in a.seeds.split(",")]
    out, data = {}, vf.datasets()
    for name in a.tasks:
        X, y, task, metric = data[name]
        rows = []
        for seed in seeds:
            r = run(X, y, task, metric, a.budget, seed)
            r["seed"] = seed
            r["fresh_referee_score"], r["fresh_referee_se"] = vf.fresh_referee(X, y, task, metric, r["params"])
            rows.append(r)
            print(f"{name:10s} {a.side} {a.budget:g}s seed {seed}  wall {r['wall_s']:.2f}s  own {r['own_score']:.4f}  "
                  f"fresh {r['fresh_referee_score']:.4f}  trials {r['trials']}", flush=True)
        out[name] = summary(rows)
        print(f"{name:10s} fresh mean {out[name]['fresh_mean']:.4f} (min {out[name]['fresh_min']:.4f}, "
              f"max {out[name]['fresh_max']:.4f})", flush=True)
    vf.RESULTS.mkdir(exist_ok=True)
    (vf.RESULTS / (a.out or f"tune_seeds_{a.side}_{a.budget:g}s.json")).write_text(json.dumps(
        {"tasks": out, "seeds": seeds, "budget": a.budget, "side": a.side, "when": time.strftime("%Y-%m-%d %H:%M:%S")},
        indent=2, default=str))


def summary(rows):
    "One task's runs with the mean, min and max of their fresh referee scores."
    fresh = [r["fresh_referee_score"] for r in rows]
    return {"runs": rows, "fresh_mean": sum(fresh) / len(fresh), "fresh_min": min(fresh), "fresh_max": max(fresh)}


def rescore(names):
    data = vf.datasets()
    for name in names:
        path = vf.RESULTS / Path(name).name
        doc = json.loads(path.read_text())
        for task_name, t in doc["tasks"].items():
            X, y, task, metric = data[task_name]
            t.update(summary(vf.rescore(t["runs"], X, y, task, metric)))
            print(f"{path.name} {task_name:10s} fresh mean {t['fresh_mean']:.4f}", flush=True)
        doc["rescored"] = time.strftime("%Y-%m-%d %H:%M:%S")
        path.write_text(json.dumps(doc, indent=2, default=str))


if __name__ == "__main__":
    main()
