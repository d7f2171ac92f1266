"""Magics overhead: what `%load_ext mltrain_nb` costs, and `%train` against calling the engine directly.

1. `%load_ext mltrain_nb` in a fresh `ipython` process: measured inside the process (perf_counter around
   the magic), and as the wall-clock difference between `ipython -c "%load_ext mltrain_nb"` and
   `ipython -c pass` (median of 7 cold processes each, alternating).
2. `%train` vs `MLTrainingEngine(config).compare(...)` in one process on the same data, the same models and
   the same `TrainConfig` (the one the magic built), tracking off, no panel, no progress bar; alternating,
   best of `--repeat` (3).

    python bench/magics_overhead.py            # writes bench/results/magics.json

Goals: `%load_ext` <= 0.3 s; `%train` / engine <= 1.03. On a busy machine the best-of-3 wall-clock ratio is noisy;
the process CPU time of each call (best of N) and the time each call spends outside the engine's own `compare`
(its `result.elapsed`) measure the overhead with much less noise.
"""
import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
MODELS = "logistic_regression,random_forest,lightgbm"


def ipython(code: str, env) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "-c", code], capture_output=True, text=True,
                       env=env, check=True)
    return time.perf_counter() - t, p.stdout


def load_ext_cost(runs: int = 7) -> dict:
    env = {**os.environ, "IPYTHONDIR": tempfile.mkdtemp(prefix="ipython-bench-")}
    inside = ("import time; t = time.perf_counter(); get_ipython().run_line_magic('load_ext', 'mltrain_nb'); "
              "print('LOAD', time.perf_counter() - t)")
    ipython("pass", env)   # first start writes the profile
    base, loaded, in_process = [], [], []
    for _ in range(runs):
        base.append(ipython("pass", env)[0])
        loaded.append(ipython("%load_ext mltrain_nb", env)[0])
        out = ipython(inside, env)[1]
        in_process.append(float(out.split("LOAD")[1].split()[0]))
    return {"in_process_s": statistics.median(in_process), "in_process_max_s": max(in_process),
            "ipython_pass_s": statistics.median(base), "ipython_load_ext_s": statistics.median(loaded),
            "process_delta_s": statistics.median(loaded) - statistics.median(base), "runs": runs}


def train_overhead(repeat: int) -> dict:
    from IPython.core.interactiveshell import InteractiveShell
    from sklearn.datasets import load_breast_cancer
    from mltrain_nb.engine import MLTrainingEngine
    warnings.simplefilter("ignore")
    os.chdir(tempfile.mkdtemp(prefix="mltrain-bench-"))
    bunch = load_breast_cancer(as_frame=True)
    df = bunch.data.assign(diagnosis=bunch.target.map({0: "malignant", 1: "benign"}))
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mltrain_nb")
    for line in ("MLTrain.progress = False", "MLTrain.tracking = False", "MLTrain.cv = 5"):
        ip.run_line_magic("config", line)
    ip.user_ns["df"] = df
    line = f"df --target diagnosis --models {MODELS} --no-panel"

    def magic():
        with contextlib.redirect_stdout(io.StringIO()):
            t, c = time.perf_counter(), time.process_time(); r = ip.run_line_magic("train", line)
            return time.perf_counter() - t, r, time.process_time() - c

    config = magic()[1].config      # warm-up; the exact config the magic runs, for the direct call

    def direct():
        t, c = time.perf_counter(), time.process_time(); r = MLTrainingEngine(config, progress=False).compare(df, "diagnosis")
        return time.perf_counter() - t, r, time.process_time() - c

    direct()
    m_times, d_times, m_extra, d_extra, m_cpu, d_cpu = [], [], [], [], [], []
    for _ in range(repeat):
        t, rm, c = magic(); m_times.append(t); m_extra.append(t - rm.elapsed); m_cpu.append(c)
        t, rd, c = direct(); d_times.append(t); d_extra.append(t - rd.elapsed); d_cpu.append(c)
    assert list(rm.leaderboard.index) == list(rd.leaderboard.index)
    assert abs(rm.leaderboard["cv_accuracy"] - rd.leaderboard["cv_accuracy"]).max() < 1e-12
    # Wall-clock ratios swing with machine load; the time each call spends outside the engine's own compare
    # (result.elapsed) is the overhead itself, and does not.
    added = statistics.median(m_extra) - statistics.median(d_extra)
    return {"data": "breast_cancer 569x30", "models": MODELS.split(","), "cv": 5, "repeat": repeat,
            "magic_s": min(m_times), "engine_s": min(d_times), "ratio": min(m_times) / min(d_times),
            "magic_outside_compare_s": statistics.median(m_extra), "engine_outside_compare_s": statistics.median(d_extra),
            "added_by_magic_s": added, "overhead_ratio": 1 + added / min(d_times),
            "magic_cpu_s": min(m_cpu), "engine_cpu_s": min(d_cpu), "cpu_ratio": min(m_cpu) / min(d_cpu),
            "magic_times": m_times, "engine_times": d_times, "magic_cpu": m_cpu, "engine_cpu": d_cpu}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load = load_ext_cost()
    print(f"%load_ext mltrain_nb: {load['in_process_s'] * 1000:.1f} ms in process (max {load['in_process_max_s'] * 1000:.1f} ms); "
          f"ipython -c: {load['ipython_load_ext_s']:.3f}s vs pass {load['ipython_pass_s']:.3f}s "
          f"(delta {load['process_delta_s'] * 1000:+.0f} ms)", flush=True)
    train = train_overhead(args.repeat)
    print(f"%train {train['magic_s']:.3f}s vs engine {train['engine_s']:.3f}s: ratio {train['ratio']:.4f} (best of {args.repeat}); "
          f"CPU {train['magic_cpu_s']:.3f}s vs {train['engine_cpu_s']:.3f}s: ratio {train['cpu_ratio']:.4f}; "
          f"the magic adds {train['added_by_magic_s'] * 1000:.1f} ms outside compare: overhead ratio {train['overhead_ratio']:.4f}")
    RESULTS.mkdir(exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    (RESULTS / "magics.json").write_text(json.dumps({"meta": meta, "load_ext": load, "train": train}, indent=2))


if __name__ == "__main__":
    main()
