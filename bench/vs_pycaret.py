"""Side by side with PyCaret 3.3.2: import + setup + compare of the same 10 algorithms, 5 folds, n_jobs=1 on both sides.

    python bench/vs_pycaret.py          # writes bench/results/vs_pycaret.json

PyCaret runs in its own virtual environment, which this script creates on first use (it needs the package index):
    python -m venv bench/.venv-pycaret && bench/.venv-pycaret/bin/pip install pycaret==3.3.2 six "xgboost<2.1"
Data: bench/penguins_like.csv (344 rows, 3 classes, NaNs, string categoricals; see bench/penguins_like.py).
Every side runs in a fresh interpreter started by this script, one after the other in the same run, and is timed from
process start to the line that prints its leaderboard's best; the sides alternate for ROUNDS rounds and the ratios are
of median times (the machine may be shared: read the ratios, not the seconds). Every side imports compiled bytecode
(this checkout's modules are compiled first, as `pip install` compiles an installed package's). Ours is run with tracking off, and with the defaults (tracking and evaluation plots on, a warm store): there
`compare` returns once every run is ended with its metrics and model, and the time until a renderer process has drawn
the evaluation plots into the store (`wait_for_tracking()`) is recorded too (`plots_wall_s`).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
VENV = HERE / ".venv-pycaret"
CSV = HERE / "penguins_like.csv"
RESULTS = HERE / "results"
ROUNDS = 5
PAIRS = [("lr", "logistic_regression"), ("knn", "knn"), ("nb", "naive_bayes"), ("dt", "decision_tree"),
         ("rbfsvm", "svm"), ("rf", "random_forest"), ("ada", "adaboost"), ("gbc", "gradient_boosting"),
         ("lightgbm", "lightgbm"), ("xgboost", "xgboost")]

PYCARET = f"""
import json, warnings; warnings.simplefilter("ignore")
import pandas as pd
from pycaret.classification import setup, compare_models, pull
df = pd.read_csv({str(CSV)!r})
setup(df, target="species", session_id=0, train_size=0.8, fold=5, n_jobs=1, verbose=False, html=False,
      log_experiment=False, system_log=False)
compare_models(include={[p for p, _ in PAIRS]!r}, fold=5, sort="Accuracy", verbose=False, n_select=1)
board = pull()
print("RESULT", json.dumps({{"best": str(board.index[0]), "best_cv_accuracy": float(board["Accuracy"].iloc[0]),
                            "n_models": len(board)}}))
"""

RAW = f"""
import json, warnings; warnings.simplefilter("ignore")
import pandas as pd
from sklearn.compose import make_column_transformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, LabelEncoder
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier
from sklearn.svm import SVC
from sklearn.ensemble import RandomForestClassifier, AdaBoostClassifier, GradientBoostingClassifier
from lightgbm import LGBMClassifier
from xgboost import XGBClassifier
df = pd.read_csv({str(CSV)!r})
X, y = df.drop(columns="species"), LabelEncoder().fit_transform(df["species"])
X, _, y, _ = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
prep = make_column_transformer(
    (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), make_column_selector(dtype_include="number")),
    (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
     make_column_selector(dtype_exclude="number")))
models = {{"lr": LogisticRegression(max_iter=1000), "knn": KNeighborsClassifier(), "nb": GaussianNB(),
          "dt": DecisionTreeClassifier(random_state=0), "svm": SVC(probability=True, random_state=0),
          "rf": RandomForestClassifier(random_state=0, n_jobs=1), "ada": AdaBoostClassifier(random_state=0),
          "gbc": GradientBoostingClassifier(random_state=0), "lightgbm": LGBMClassifier(verbose=-1, n_jobs=1),
          "xgboost": XGBClassifier(n_jobs=1)}}
cv = StratifiedKFold(5, shuffle=True, random_state=0)
scores = {{n: cross_validate(make_pipeline(prep, m), X, y, cv=cv, scoring="accuracy")["test_score"].mean() for n, m in models.items()}}
best = max(scores, key=scores.get)
print("RESULT", json.dumps({{"best": best, "best_cv_accuracy": float(scores[best]), "n_models": len(scores)}}))
"""

OURS = """
import json, sys, time, warnings; warnings.simplefilter("ignore")
t0 = time.perf_counter()
import pandas as pd
from mltrain_nb.engine import MLTrainingEngine
df = pd.read_csv({csv!r})
eng = MLTrainingEngine(cv=5, n_jobs={n_jobs}, progress=False, random_state=0, tracking={tracking!r})
res = eng.compare(df, "species", models={models!r})
returned = time.perf_counter() - t0
board = res.leaderboard
print("RESULT", json.dumps({{"best": str(board.index[0]), "best_cv_accuracy": float(board["cv_accuracy"].iloc[0]),
                            "n_models": len(board), "compare_returned_s": returned}}), flush=True)
eng.wait_for_tracking()   # the evaluation plots, drawn by the renderer process after compare returned
print("PLOTS", json.dumps({{"plots_ready_s": time.perf_counter() - t0}}), flush=True)
"""


def ensure_venv():
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "pycaret==3.3.2", "six", "xgboost<2.1"], check=True)
    return str(py)


def timed(python, code, env=None):
    "Run `code` in a fresh interpreter: wall time from its start to its RESULT line (the user has the leaderboard), and to its PLOTS line if any."
    t = time.perf_counter()
    proc = subprocess.Popen([python, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=HERE.parent)
    out = {}
    for line in proc.stdout:
        if line.startswith("RESULT "): out.update(wall_s=time.perf_counter() - t, **json.loads(line[7:]))
        if line.startswith("PLOTS "): out.update(plots_wall_s=time.perf_counter() - t)
    err = proc.stderr.read()
    if proc.wait() or "wall_s" not in out: raise SystemExit(f"failed:\n{err[-3000:]}")
    return out


def main():
    if not CSV.exists(): subprocess.run([sys.executable, str(HERE / "penguins_like.py")], check=True)
    py = ensure_venv()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    store = tempfile.mkdtemp(prefix="mltrain-bench-")
    # every side imports compiled bytecode, as an installed package does (pip compiles it when it installs; PyCaret's and
    # the libraries' modules are compiled): where PYTHONDONTWRITEBYTECODE is set, this checkout's modules alone would be
    # compiled again in every process (about 0.07 s each, in the main process and the tracking process)
    import compileall
    compileall.compile_dir(str(HERE.parent / "mltrain_nb"), quiet=1)
    ours = [m for _, m in PAIRS]
    on = {"output_dir": store, "experiment": "vs_pycaret"}
    # a warm store: its one-time creation (migrations, ~3 s) is not what is compared
    subprocess.run([sys.executable, "-c", f"from mltrain_nb.tracking import ExperimentTracker; ExperimentTracker({store!r}, 'vs_pycaret')"],
                   check=True, env=env, capture_output=True)
    sides = {
        "pycaret_setup_compare": lambda: timed(py, PYCARET),
        "raw_cross_validate": lambda: timed(sys.executable, RAW),
        "ours_tracking_off_n1": lambda: timed(sys.executable, OURS.format(csv=str(CSV), n_jobs=1, tracking={"enabled": False}, models=ours), env),
        "ours_defaults_n1": lambda: timed(sys.executable, OURS.format(csv=str(CSV), n_jobs=1, tracking=on, models=ours), env),
        "ours_defaults_all_cores": lambda: timed(sys.executable, OURS.format(csv=str(CSV), n_jobs=-1, tracking=on, models=ours), env),
    }
    import statistics
    runs = {name: [] for name in sides}
    for round_ in range(ROUNDS):   # the sides alternate, round after round: a slow minute of a shared machine hits all of them
        for name, run in sides.items():
            r = run()
            runs[name].append(r)
            print(f"round {round_ + 1} {name:26s} wall {r['wall_s']:6.2f}s  best {r['best']:20s} cv accuracy {r['best_cv_accuracy']:.4f}"
                  + (f"  (plots in the store at {r['plots_wall_s']:.2f}s)" if "plots_wall_s" in r else ""), flush=True)
    res = {}
    for name, rs in runs.items():   # the median wall time; the rest from the run that had it
        walls = [r["wall_s"] for r in rs]
        res[name] = {**sorted(rs, key=lambda r: r["wall_s"])[len(rs) // 2], "wall_s": statistics.median(walls), "walls_s": walls}
        print(f"median {name:26s} wall {res[name]['wall_s']:6.2f}s", flush=True)
    pc, raw = res["pycaret_setup_compare"]["wall_s"], res["raw_cross_validate"]["wall_s"]
    ratios = {"defaults_n1_vs_pycaret": res["ours_defaults_n1"]["wall_s"] / pc,
              "defaults_all_cores_vs_pycaret": res["ours_defaults_all_cores"]["wall_s"] / pc,
              "tracking_off_vs_raw": res["ours_tracking_off_n1"]["wall_s"] / raw,
              "best_cv_ours_minus_pycaret": res["ours_defaults_n1"]["best_cv_accuracy"] - res["pycaret_setup_compare"]["best_cv_accuracy"]}
    for k, v in ratios.items(): print(f"{k:32s} {v:+.3f}" if k.startswith("best") else f"{k:32s} {v:.3f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vs_pycaret.json").write_text(json.dumps({"sides": res, "ratios": ratios, "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2))


if __name__ == "__main__":
    main()
