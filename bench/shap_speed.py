"""SHAP speed: `explain_model` on a 300-tree xgboost pipeline vs xgboost's own `pred_contribs=True`.

    python bench/shap_speed.py     # writes bench/results/shap_speed.json

10,000 rows x 30 numeric features, binary classification; plots off (they are a fixed cost on top).
Both sides explain the same rows with the same booster, in one process, best of 3.
Goal: ratio <= 1.2.
"""
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"


def main():
    warnings.simplefilter("ignore")
    import xgboost as xgb
    from sklearn.datasets import make_classification
    from mltrain_nb.algorithms import final_estimator
    from mltrain_nb.engine import MLTrainingEngine
    from mltrain_nb.explain import explain_model
    X, y = make_classification(n_samples=12_000, n_features=30, n_informative=12, random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(30)])
    y = pd.Series(np.where(y == 1, "yes", "no"))
    eng = MLTrainingEngine(cv=2, progress=False, tracking={"enabled": False}, split={"test_size": 0.0},
                           model_params={"xgboost": {"n_estimators": 300}})
    pipe = eng.train_model(X, y, "xgboost")["model"]
    rows = X.iloc[:10_000]
    booster = final_estimator(pipe).get_booster()
    Xt = pipe[:-1].transform(rows)
    raw, ours = [], []
    explain_model(pipe, rows.head(100), "classification", max_rows=100)        # warm imports
    for _ in range(3):
        t = time.perf_counter(); booster.predict(xgb.DMatrix(Xt), pred_contribs=True); raw.append(time.perf_counter() - t)
        t = time.perf_counter(); res = explain_model(pipe, rows, "classification", max_rows=10_000); ours.append(time.perf_counter() - t)
    out = {"rows": len(rows), "features": 30, "trees": 300, "raw_pred_contribs_s": min(raw), "explain_model_s": min(ours),
           "ratio": min(ours) / min(raw), "explainer": res["explainer"], "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"pred_contribs {out['raw_pred_contribs_s']:.3f}s  explain_model {out['explain_model_s']:.3f}s  "
          f"ratio {out['ratio']:.3f}  ({out['explainer']})")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "shap_speed.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
