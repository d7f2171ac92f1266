"""Panel overhead: a 4-model compare (xgboost, lightgbm, random_forest, logistic_regression) with the live
`TrainingPanel` on vs off, in a REAL Jupyter kernel (nbclient), so the widget comm messages are really sent.

Every model trains with n_jobs=1: the panel then competes with training for the one core it uses (the least
favourable case), and timings on a shared machine are steadier than with every core oversubscribed.

"Off" is what `--no-panel` gives: no panel callback, so the engine shows its own `tqdm.auto` progress bar (in a kernel,
tqdm's notebook widget). "On" is `panel_callbacks("train")` plus `finish_panels(callbacks, result)`, which also renders
the best model's key plots and the static HTML summary. The boosting models train with early stopping, so they stream
`IterationDone` events into the panel (the live loss curve). Runs alternate on/off (the order flips every repeat) in one
kernel after a warm-up run; the overhead is the ratio of the medians (wall and CPU time of the kernel process), and,
measured directly, the seconds spent inside the panel (its callbacks and `finish`) over the median "off" wall time.

Memory: in the same kernel, one displayed `TrainingPanel` is fed 10,000 `IterationDone` events; tracemalloc's traced
memory after 10,000 is compared with after 100.

    python bench/panels_overhead.py              # writes bench/results/panels.json
    python bench/panels_overhead.py --quick      # smaller data, one repeat: a smoke run

Goals: on/off wall time <= 1.05; memory after 10,000 events within 20 MB of after 100.
"""
import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import nbformat

RESULTS = Path(__file__).parent / "results"
MODELS = ["xgboost", "lightgbm", "random_forest", "logistic_regression"]

SETUP = """
import json, time, warnings, tracemalloc
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
from sklearn.datasets import make_classification
from mltrain_nb.engine import MLTrainingEngine
from mltrain_nb.panels import panel_callbacks, finish_panels, TrainingPanel, in_notebook
from mltrain_nb.events import TrainingStarted, IterationDone, TrainingFinished
assert in_notebook(), "the benchmark must run in a Jupyter kernel"
X, y = make_classification(n_samples={rows}, n_features=20, n_informative=10, random_state=0)
df = pd.DataFrame(X, columns=[f"f{{i}}" for i in range(20)]).assign(label=np.where(y == 1, "yes", "no"))
CONFIG = {{"cv": 3, "n_jobs": 1, "tracking": {{"enabled": False}}, "early_stopping": {{"enabled": True, "patience": 30}},
          "model_params": {{"xgboost": {{"n_estimators": {rounds}}}, "lightgbm": {{"n_estimators": {rounds}}},
                           "random_forest": {{"n_estimators": 100}}}}}}
MODELS = {models!r}

def run(panel: bool) -> dict:
    callbacks = panel_callbacks("train", enabled=panel)
    t, cpu = time.perf_counter(), time.process_time()
    engine = MLTrainingEngine(CONFIG, callbacks=callbacks)
    result = engine.compare(df, "label", models=MODELS)
    finish_panels(callbacks, result)
    out = {{"panel": panel, "seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - cpu,
           "best": result.best_model_name}}
    if callbacks: out["stats"] = dict(callbacks[0].stats)
    return out
"""

RUN = 'print("RESULT " + json.dumps(run({panel})))'

MEMORY = """
p = TrainingPanel()          # displayed: its widgets are live in the front-end's comm
p(TrainingStarted("classification", 10_000, 20, ("xgboost",), 3))
tracemalloc.start()
for i in range(100): p(IterationDone("xgboost", i, 1 / (i + 1), 1 / (i + 2), "logloss"))
after_100 = tracemalloc.get_traced_memory()[0]
t = time.perf_counter()
for i in range(100, 10_000): p(IterationDone("xgboost", i, 1 / (i + 1), 1 / (i + 2), "logloss"))
feed = time.perf_counter() - t
after_10k, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
p(TrainingFinished(("xgboost",), "xgboost", feed))
print("MEMORY " + json.dumps({"after_100_bytes": after_100, "after_10000_bytes": after_10k, "peak_bytes": peak,
                              "growth_mb": (after_10k - after_100) / 1e6, "feed_seconds": feed,
                              "events_per_second": 9_900 / feed, "stats": p.stats}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=8000)
    ap.add_argument("--rounds", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick: args.rows, args.rounds, args.repeat = 1500, 100, 1
    from nbclient import NotebookClient
    cells = [SETUP.format(rows=args.rows, rounds=args.rounds, models=MODELS), RUN.format(panel=False)]   # warm-up
    order = []
    for r in range(args.repeat):
        for panel in ((True, False) if r % 2 == 0 else (False, True)):
            cells.append(RUN.format(panel=panel)); order.append(panel)
    cells.append(MEMORY)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    t0 = time.perf_counter()
    NotebookClient(nb, kernel_name="python3", timeout=900, store_widget_state=False).execute()
    total = time.perf_counter() - t0
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    runs = [json.loads(l.split("RESULT ", 1)[1]) for l in text.splitlines() if l.startswith("RESULT ")]
    memory = next(json.loads(l.split("MEMORY ", 1)[1]) for l in text.splitlines() if l.startswith("MEMORY "))
    warm, timed = runs[0], runs[1:]
    on = [r["seconds"] for r in timed if r["panel"]]
    off = [r["seconds"] for r in timed if not r["panel"]]
    on_stats = [r["stats"] for r in timed if r["panel"]]
    cpu_on = [r["cpu_seconds"] for r in timed if r["panel"]]
    cpu_off = [r["cpu_seconds"] for r in timed if not r["panel"]]
    ratio_median = statistics.median(on) / statistics.median(off)
    in_panel = statistics.median(s["seconds"] for s in on_stats)
    ratio_min = min(on) / min(off)
    chart_share = statistics.median(s["chart_seconds"] for s in on_stats) / statistics.median(on)
    out = {
        "what": "4-model compare, panel on vs off (--no-panel: the engine's tqdm bar), in a real Jupyter kernel via nbclient",
        "models": MODELS, "rows": args.rows, "features": 20, "cv": 3, "boosting_rounds": args.rounds,
        "early_stopping": True, "repeat": args.repeat, "warmup_seconds": round(warm["seconds"], 3),
        "panel_on_seconds": [round(s, 3) for s in on], "panel_off_seconds": [round(s, 3) for s in off],
        "ratio_median": round(ratio_median, 4), "ratio_min": round(ratio_min, 4),
        "cpu_on_seconds": [round(s, 3) for s in cpu_on], "cpu_off_seconds": [round(s, 3) for s in cpu_off],
        "cpu_ratio_median": round(statistics.median(cpu_on) / statistics.median(cpu_off), 4),
        "seconds_in_panel_median": round(in_panel, 3),
        "panel_share_of_off_wall": round(in_panel / statistics.median(off), 4),
        "goal_ratio": 1.05, "ok_time": ratio_median <= 1.05,
        "panel_stats": on_stats,
        "chart_render_share_of_wall": round(chart_share, 4),
        "widget_bytes_per_second": round(statistics.median(s["bytes"] / t for s, t in zip(on_stats, on)), 1),
        "memory": {**memory, "goal_growth_mb": 20, "ok": memory["growth_mb"] < 20},
        "total_seconds": round(total, 1), "python": platform.python_version(), "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "panels.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "panel_stats"}, indent=2))


if __name__ == "__main__":
    main()
