"""The REST server against the library it serves, in the same run.

1. Training: a job's CV scores equal `MLTrainingEngine.train_model`'s on the same data and config (same folds, same
   scores, fold by fold), and the server answers status requests while the job runs (p50/p99/max latency).
2. Prediction, one row: `POST /api/ml/models/predict` p50 (a keep-alive client, sequential) vs
   `InferenceEngine.predict_single` in process on the same registered model. Goal: ratio <= 3.
3. Load: 50 concurrent clients for 30 s against 127.0.0.1 (bounded: 50 tasks, a deadline; the server is stopped
   at the end), errors counted, requests per second and p99 latency.

    python bench/server_latency.py            # writes bench/results/server.json
    python bench/server_latency.py --quick    # 5 s of load, fewer samples
    python bench/server_latency.py --algorithm logistic_regression   # a fast model: the server's own overhead shows
                                                                     # (writes bench/results/server_logistic_regression.json)

The server runs in a subprocess (`mltrain server --workers 1`) with its state in a temporary folder.
"""
import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000, q))  # ms


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int):
    env = {**os.environ, "MLTRAIN_OUTPUT_DIR": str(home / "experiments"), "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from mltrain_nb.cli import main; sys.exit(main())", "server",
                             "--port", str(port), "--workers", "1"], cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/api/ml/datasets").status_code == 200: return proc, url
        except httpx.TransportError: pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError((home / "server.log").read_text()[-3000:])


def dataset():
    from sklearn.datasets import load_breast_cancer
    bc = load_breast_cancer(as_frame=True)
    return bc.frame.assign(target=bc.target.map({0: "malignant", 1: "benign"}))


def bench_training(c: httpx.Client, df, ds_id, home, request):
    from mltrain_nb.engine import MLTrainingEngine
    from mltrain_nb.server.db import ServerSettings
    from mltrain_nb.server.jobs import train_config
    job_id = c.post("/api/ml/models/train", json=request).json()["job_id"]
    lat, statuses = [], []
    while True:
        t0 = time.perf_counter()
        job = c.get(f"/api/ml/models/train/{job_id}").json()
        dt = time.perf_counter() - t0
        if job["status"] == "running": lat.append(dt)
        statuses.append(job["status"])
        if job["status"] in ("completed", "failed"): break
        time.sleep(0.05)
    assert job["status"] == "completed", job
    # the engine in this process, on the same data and the same config (tracking off: it does not change scores)
    settings = ServerSettings(output_dir=str(home / "engine-side"))
    body = {k: v for k, v in request.items() if k != "dataset_id"}
    cfg = train_config("train", {**body, "random_state": 42}, settings).updated(tracking={"enabled": False})
    res = MLTrainingEngine(cfg, progress=False).train_model(df, body["target_column"], body["algorithm"])
    server_cv = job["results"]["cv_scores"]
    engine_cv = {m: {"mean": v["mean"], "std": v["std"], "folds": v["folds"]} for m, v in res["cv_scores"].items()}
    same = all(np.allclose(server_cv[m]["folds"], engine_cv[m]["folds"], rtol=0, atol=1e-12) for m in engine_cv) \
        and set(server_cv) == set(engine_cv)
    return job, {"request": body, "cv_scores_equal": bool(same),
                 "server_cv_mean": {m: v["mean"] for m, v in server_cv.items()},
                 "engine_cv_mean": {m: v["mean"] for m, v in engine_cv.items()},
                 "status_while_running_ms": {"n": len(lat), "p50": pct(lat, 50), "p99": pct(lat, 99), "max": 1000 * max(lat)}
                 if lat else None, "status_under_50ms": bool(lat) and max(lat) < 0.05}


def bench_predict(c: httpx.Client, home, model_id, row, n):
    from mltrain_nb.inference import InferenceEngine
    from mltrain_nb.registry import ModelDeployment, input_schema, load_sklearn
    from mltrain_nb.server.app import single_threaded
    dep = ModelDeployment(models_dir=home / "experiments" / "models", output_dir=home / "experiments")
    e = dep.entry(model_id)
    # the same served model the server uses: one thread per prediction (server.app.single_threaded)
    engine = InferenceEngine(single_threaded(load_sklearn(e["model_uri"], dep.tracking_uri)),
                             schema=input_schema(e["model_uri"], dep.tracking_uri))
    body = {"model_id": model_id, "features": row}
    for _ in range(20): c.post("/api/ml/models/predict", json=body); engine.predict_single(row, return_proba=True)
    http, local = [], []
    for _ in range(n):   # alternating, so both see the same machine load
        t0 = time.perf_counter(); r = c.post("/api/ml/models/predict", json=body); http.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
        t0 = time.perf_counter(); engine.predict_single(row, return_proba=True); local.append(time.perf_counter() - t0)
    return {"n": n, "model": e["algorithm"], "http_p50_ms": pct(http, 50), "http_p99_ms": pct(http, 99),
            "predict_single_p50_ms": pct(local, 50), "predict_single_p99_ms": pct(local, 99),
            "ratio_p50": pct(http, 50) / pct(local, 50), "goal_ratio": 3.0}


async def load(url, body, clients, seconds):
    lat, errors, deadline = [], [], time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as c:
        async def one():
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await c.post("/api/ml/models/predict", json=body)
                    if r.status_code != 200: errors.append(f"{r.status_code}: {r.text[:200]}")
                except Exception as e: errors.append(repr(e))
                lat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": len(lat), "errors": len(errors),
            "error_examples": errors[:3], "rps": len(lat) / elapsed, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
            "max_ms": 1000 * max(lat)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--algorithm", default="random_forest")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mltrain-bench-"))
    port = free_port()
    proc, url = start_server(home, port)
    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                       "load_average_at_start": os.getloadavg()},
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        c = httpx.Client(base_url=url, timeout=300)
        df = dataset()
        ds_id = c.post("/api/ml/datasets/upload", files={"file": ("bc.csv", df.to_csv(index=False).encode())},
                       data={"target_column": "target"}).json()["dataset_id"]
        request = {"dataset_id": ds_id, "target_column": "target", "algorithm": args.algorithm, "cv": 5,
                   "hyperparameters": {"n_estimators": 100} if args.algorithm == "random_forest" else {}}
        job, out["training"] = bench_training(c, df, ds_id, home, request)
        print("training:", json.dumps(out["training"], indent=1))
        model_id = c.post("/api/ml/models/deploy", json={"training_job_id": job["job_id"], "model_name": "bc",
                                                         "promote_to_production": True}).json()["model_id"]
        row = df.drop(columns="target").iloc[0].to_dict()
        out["predict_one_row"] = bench_predict(c, home, model_id, row, 100 if args.quick else 400)
        print("predict:", json.dumps(out["predict_one_row"], indent=1))
        out["load"] = asyncio.run(load(url, {"model_id": model_id, "features": row}, 50, 5 if args.quick else 30))
        print("load:", json.dumps(out["load"], indent=1))
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try: proc.wait(30)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
    RESULTS.mkdir(exist_ok=True)
    name = "server.json" if args.algorithm == "random_forest" else f"server_{args.algorithm}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
