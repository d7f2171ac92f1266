"""Inference speed: what the input checks, chunking and A/B routing + logging cost over the bare fitted pipeline.

    python bench/inference_speed.py     # writes bench/results/inference.json

Goals (issue 12):
- `InferenceEngine.predict_single(dict)` at most 1.5x the pipeline's own `predict` on a one-row DataFrame;
- `InferenceEngine.predict_batch` on 1M rows at least 0.9x the pipeline's throughput, with bounded peak memory;
- `predict_ab_test` routing + logging at most 2 ms per call over the model's own prediction time.

The model is the engine's real preprocessing (`data.build_preprocessor`: impute + scale numbers, impute + one-hot
categoricals) and a logistic regression, registered and loaded back through the registry like a served model.
"""
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"


def make_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    X["city"] = rng.choice(["Lyon", "Oslo", "Rome", "Kyiv", "Lima"], n)
    X["plan"] = rng.choice(["free", "pro", "team"], n)
    y = ((X.x0 + X.x1 + (X.city == "Oslo")) > 0.5).astype(int)
    return X, y


def paired(fn_a, fn_b, n: int) -> tuple[float, float]:
    "Median seconds per call of `fn_a` and `fn_b`, called alternately so load on the machine hits both alike."
    for _ in range(20): fn_a(); fn_b()
    ta, tb = [], []
    for _ in range(n):
        t = time.perf_counter(); fn_a(); ta.append(time.perf_counter() - t)
        t = time.perf_counter(); fn_b(); tb.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def peak_mb(fn) -> float:
    tracemalloc.start(); tracemalloc.reset_peak()
    try: fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    return peak / 2**20


def main():
    warnings.simplefilter("ignore")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from mltrain_nb.registry import ModelDeployment
    from mltrain_nb.data import build_preprocessor
    from mltrain_nb.inference import InferenceEngine, ModelLoader

    X, y = make_data(5000)
    pipe = Pipeline([("preprocess", build_preprocessor(X)), ("model", LogisticRegression(max_iter=500))]).fit(X, y)
    pipe_b = Pipeline([("preprocess", build_preprocessor(X)), ("model", LogisticRegression(C=0.1, max_iter=500))]).fit(X, y)
    tmp = Path(tempfile.mkdtemp())
    dep = ModelDeployment(tmp / "models", output_dir=tmp / "exp")
    a = dep.save_model(pipe, "bench", task_type="classification", feature_names=list(X.columns), input_example=X.head(5))
    b = dep.save_model(pipe_b, "bench", task_type="classification", feature_names=list(X.columns), input_example=X.head(5))
    model = ModelLoader(dep.tracking_uri).load_from_registry("bench", version=1)   # the served object, signature attached
    engine = InferenceEngine(model)
    out = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0], "model": "build_preprocessor + LogisticRegression, 10 columns (2 categorical)"}

    # 1. one row: our dict path vs the pipeline's predict on a ready one-row DataFrame
    row = X.iloc[0].to_dict()
    row_df = X.iloc[[0]]
    raw, ours = paired(lambda: model.predict(row_df), lambda: engine.predict_single(row), 500)
    raw_proba, proba = paired(lambda: model.predict_proba(row_df), lambda: engine.predict_single(row, return_proba=True), 500)
    out["predict_single"] = {"raw_predict_ms": raw * 1e3, "predict_single_ms": ours * 1e3, "ratio": ours / raw,
                             "raw_predict_proba_ms": raw_proba * 1e3, "predict_single_proba_ms": proba * 1e3,
                             "ratio_proba": proba / raw_proba, "goal": "ratio <= 1.5"}
    print(f"predict_single: {ours * 1e3:.3f} ms vs raw predict {raw * 1e3:.3f} ms -> {ours / raw:.2f}x (goal <= 1.5x); "
          f"with proba {proba / raw_proba:.2f}x", flush=True)

    # 2. one million rows: chunked, checked predict_batch vs one bare predict over the whole frame
    big, _ = make_data(1_000_000, seed=1)
    np.testing.assert_array_equal(engine.predict_batch(big.head(10_000)), model.predict(big.head(10_000)))
    t_raw, t_ours = [], []
    for _ in range(3):
        t = time.perf_counter(); model.predict(big); t_raw.append(time.perf_counter() - t)
        t = time.perf_counter(); engine.predict_batch(big); t_ours.append(time.perf_counter() - t)
    raw_s, ours_s = min(t_raw), min(t_ours)
    raw_mb, ours_mb = peak_mb(lambda: model.predict(big)), peak_mb(lambda: engine.predict_batch(big))
    out["predict_batch_1m"] = {"rows": len(big), "raw_s": raw_s, "predict_batch_s": ours_s, "chunk_size": engine.chunk_size,
                               "raw_rows_per_s": len(big) / raw_s, "predict_batch_rows_per_s": len(big) / ours_s,
                               "throughput_ratio": raw_s / ours_s, "raw_peak_mb": raw_mb, "predict_batch_peak_mb": ours_mb,
                               "input_mb": big.memory_usage(deep=True).sum() / 2**20, "goal": "throughput_ratio >= 0.9"}
    print(f"predict_batch 1M rows: {ours_s:.2f}s vs raw {raw_s:.2f}s -> throughput {raw_s / ours_s:.2f}x (goal >= 0.9x); "
          f"peak memory {ours_mb:.0f} MB vs raw {raw_mb:.0f} MB", flush=True)
    del big

    # 3. A/B: routing + logging over the model's own prediction (InferenceEngine.predict on the same row)
    dep.setup_ab_test(a, b, "bench-ab", 0.5)
    users = iter(range(10**9))
    dep.predict_ab_test("bench-ab", row_df, 0)   # loads both arms' models once
    dep.predict_ab_test("bench-ab", row_df, 1)
    inner, ab = paired(lambda: engine.predict(row_df), lambda: dep.predict_ab_test("bench-ab", row_df, next(users)), 500)
    from mltrain_nb.abtest import input_hash, route
    pred0 = engine.predict(row_df)

    def around_the_model():   # what predict_ab_test does besides predicting: config, route, hash, log
        cfg = dep.ab_tests.config("bench-ab")
        u = next(users)
        arm = route("bench-ab", u, cfg["split_ratio"])
        dep.prediction_log.append(cfg["model_a"] if arm == "A" else cfg["model_b"], pred0, test="bench-ab", arm=arm, user_id=u,
                                  latency_ms=1.0, input_hash=input_hash(row_df), n_rows=1)
    _, alone = paired(lambda: None, around_the_model, 500)
    out["predict_ab_test"] = {"predict_ab_test_ms": ab * 1e3, "model_predict_ms": inner * 1e3, "raw_pipeline_ms": raw * 1e3,
                              "overhead_ms": (ab - inner) * 1e3, "overhead_over_raw_ms": (ab - raw) * 1e3,
                              "routing_and_logging_alone_ms": alone * 1e3,
                              "logged_rows": dep.prediction_log.count("bench-ab"), "goal": "overhead_ms <= 2"}
    print(f"predict_ab_test: {ab * 1e3:.3f} ms vs the model's own {inner * 1e3:.3f} ms -> +{(ab - inner) * 1e3:.3f} ms per call "
          f"(goal <= 2 ms); +{(ab - raw) * 1e3:.3f} ms over the bare pipeline; routing + logging alone {alone * 1e3:.3f} ms", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "inference.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
