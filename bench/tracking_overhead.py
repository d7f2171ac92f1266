"""Tracking overhead: `train_model` with MLflow tracking on (plots off) vs off, same data and model.

    python bench/tracking_overhead.py     # writes bench/results/tracking_overhead.json

Goal: at most 0.3 s more per model on a warm store (issue 16: 0.1 s). The three modes (off, on, on with plots) are
alternated over ROUNDS rounds after a warm-up one, and each reports its median: on a shared 2-core machine one side's
time moves by tens of milliseconds from one minute to the next, more than the difference measured. Also measured: the
one-time cost of a fresh SQLite store (its migrations), the cost of the evaluation plots when they are on (drawn by a
renderer process after the call returns), and how long after the call the renderer had them in the store.

A comparison is measured too (`compare` of COMPARED, defaults with plots on, against tracking off; alternated, median of
3): there a model's logging overlaps the next model's training, in the tracking process, so the cost per model is what
is left on the training's critical path.
"""
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ROUNDS = 9   # alternated rounds after a warm-up one; medians (a two-thread xgboost fit is bimodal here)
COMPARED = ["logistic_regression", "knn", "naive_bayes", "decision_tree", "random_forest", "adaboost", "lightgbm", "xgboost"]


def compare_overhead(X, y, store: Path) -> dict:
    "Median wall time of `compare` over COMPARED with tracking off and with the defaults (plots on), alternated."
    from mltrain_nb.engine import MLTrainingEngine
    engines = {"off": MLTrainingEngine(cv=5, progress=False, tracking={"enabled": False}),
               "defaults": MLTrainingEngine(cv=5, progress=False, tracking={"output_dir": str(store), "experiment": "bench-compare"})}
    times = {k: [] for k in engines}
    for rep in range(4):                                   # the first round warms imports, the store and the tracking process
        for k, eng in engines.items():
            t = time.perf_counter(); eng.compare(X, y, models=COMPARED); wall = time.perf_counter() - t
            eng.wait_for_tracking()                        # the renderer, outside the timing
            if rep: times[k].append(wall)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"models": len(COMPARED), "off_s": med["off"], "defaults_s": med["defaults"],
            "per_model_s": (med["defaults"] - med["off"]) / len(COMPARED), "ratio": med["defaults"] / med["off"]}


def main():
    warnings.simplefilter("ignore")
    from sklearn.datasets import load_breast_cancer
    from mltrain_nb.engine import MLTrainingEngine
    from mltrain_nb.tracking import ExperimentTracker
    bc = load_breast_cancer(as_frame=True)
    X, y = bc.data, bc.target.map({0: "malignant", 1: "benign"})
    store = Path(tempfile.mkdtemp())
    t = time.perf_counter(); ExperimentTracker(store, "bench"); fresh_store = time.perf_counter() - t
    t = time.perf_counter(); ExperimentTracker(store, "bench"); warm_store = time.perf_counter() - t
    rows = []
    for algo in ("logistic_regression", "random_forest", "xgboost", "lightgbm"):
        engines = {mode: MLTrainingEngine(cv=5, progress=False, tracking=tracking) for mode, tracking in [
            ("off", {"enabled": False}),
            ("on", {"output_dir": str(store), "experiment": "bench", "log_plots": False}),
            ("on_with_plots", {"output_dir": str(store), "experiment": "bench"})]}
        walls, after = {mode: [] for mode in engines}, []
        for rep in range(ROUNDS + 1):                        # alternated: a slow minute of the machine hits every mode
            for mode, eng in engines.items():
                t = time.perf_counter(); eng.train_model(X, y, algo); wall = time.perf_counter() - t
                # the plots are drawn by a renderer process after the call: waited for outside the timing, so it
                # does not slow the next measurement; how long it took after the call returned is reported too
                t = time.perf_counter(); eng.wait_for_tracking(); waited = time.perf_counter() - t
                if rep:                                      # the first round warms imports, the store and caches
                    walls[mode].append(wall)
                    if mode == "on_with_plots": after.append(waited)
        times = {mode: statistics.median(w) for mode, w in walls.items()}
        row = {"algorithm": algo, **{f"{k}_s": v for k, v in times.items()},
               "overhead_s": times["on"] - times["off"], "ratio": times["on"] / times["off"],
               "plots_s": times["on_with_plots"] - times["on"], "plots_drawn_after_return_s": statistics.median(after),
               "walls_s": walls}
        rows.append(row)
        print(f"{algo:20s} off {times['off']:.3f}s  on {times['on']:.3f}s  overhead {row['overhead_s']:+.3f}s "
              f"(ratio {row['ratio']:.2f})  plots {row['plots_s']:+.3f}s (drawn {row['plots_drawn_after_return_s']:.2f}s after the call)", flush=True)
    print(f"fresh store (migrations): {fresh_store:.2f}s   warm store open: {warm_store:.3f}s")
    comp = compare_overhead(X, y, store)
    print(f"compare of {comp['models']} models: off {comp['off_s']:.2f}s  defaults {comp['defaults_s']:.2f}s  "
          f"(ratio {comp['ratio']:.2f})  tracking with plots {comp['per_model_s']:+.3f}s per model", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tracking_overhead.json").write_text(json.dumps(
        {"rows": rows, "compare": comp, "fresh_store_s": fresh_store, "warm_store_s": warm_store,
         "when": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2))


if __name__ == "__main__":
    main()
