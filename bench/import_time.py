"""Import cost: `import mltrain_nb` against `import sklearn` (the raw library), each in a fresh interpreter.

    python bench/import_time.py        # writes bench/results/import_time.json

Goal: `import mltrain_nb` <= 0.3 s. Median of 7 cold-process runs; the interpreter's own start-up
(`python -c pass`) is subtracted.
"""
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def cost(stmt, runs=7):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", stmt], check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    base = cost("pass")
    rows = {name: cost(stmt) - base for name, stmt in [
        ("mltrain_nb", "import mltrain_nb"),
        ("mltrain_nb + MLTrainError", "import mltrain_nb; mltrain_nb.MLTrainError"),
        ("sklearn", "import sklearn.ensemble, sklearn.linear_model"),
        ("mltrain_nb.engine", "import mltrain_nb.engine"),
    ]}
    for k, v in rows.items(): print(f"{k:28s} {v:.3f}s")
    print(f"ratio mltrain_nb / sklearn: {rows['mltrain_nb'] / rows['sklearn']:.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "import_time.json").write_text(json.dumps({"seconds": rows, "interpreter_start": base,
                                                           "when": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2))


if __name__ == "__main__":
    main()
