"""Monitoring (issue 33): the monitor over a million logged predictions, the cost of logging a prediction, PSI and KS
beside Evidently's, and CBPE's estimated accuracy against the realised one on a stream with a known shift.

    python bench/monitoring.py              # every part; writes bench/results/monitoring.json
    python bench/monitoring.py monitor      # one part: monitor | logging | evidently | cbpe

Goals:
- `ModelDeployment.monitor` over 1,000,000 logged predictions of a 20-column model, 30 windows: at most 3 s on 2 cores;
- logging a prediction adds at most 1 ms per call beside a bare `predict_single`;
- PSI and KS agree with Evidently's on the same data and bins (and where the default binnings differ, say why);
- CBPE: the estimated accuracy lies in the realised accuracy's 95% interval for at least 80% of the windows.

The 1M-row log is written by the bench directly (one executemany of the rows `Recorder.pack` makes, one row per
call, 30% with an outcome): a million served calls would take the bench an hour. Everything timed goes through
the library's public calls. Evidently 0.7 and NannyML 0.13 import pandas' removed `infer_dtype_from_object`;
the bench gives pandas 3 that name back (identity) before importing them, for this process only.
"""
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import os

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).parent))
from inference_speed import paired  # noqa: E402  (alternating timings, one definition for the benches)
N_NUM, N_CAT = 16, 4


def make_data(n: int, seed: int = 0, shift: float = 0.0) -> tuple[pd.DataFrame, pd.Series]:
    "20 columns (16 numeric, 4 categorical); `shift` moves x0..x3 and the city mix."
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(shift if i < 4 else 0.0, 1.0, n) for i in range(N_NUM)})
    for j in range(N_CAT):
        p = np.array([0.4, 0.3, 0.2, 0.1]) if not shift else np.array([0.1, 0.2, 0.3, 0.4])
        X[f"c{j}"] = rng.choice(["a", "b", "c", "d"], n, p=p)
    logit = X.x0 + 0.5 * X.x1 - 0.5 * X.x2 + (X.c0 == "a") + rng.logistic(size=n)
    return X, (logit > 0.5).astype(int)


def registered(tmp: Path):
    "A 20-column pipeline (the engine's preprocessing + logistic regression), registered with a profile."
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from mltrain_nb.data import build_preprocessor
    from mltrain_nb.registry import ModelDeployment
    X, y = make_data(20_000)
    pipe = Pipeline([("preprocess", build_preprocessor(X)), ("model", LogisticRegression(max_iter=500))]).fit(X, y)
    dep = ModelDeployment(tmp / "models", output_dir=tmp / "exp")
    Xr, yr = make_data(10_000, seed=1)
    mid = dep.save_model(pipe, "bench", task_type="classification", input_example=X.head(5), reference=(Xr, yr))
    dep.promote_to_production(mid)
    return dep, mid, pipe


def fill_log(dep, mid, pipe, n: int = 1_000_000, days: int = 30) -> float:
    "n one-row calls over `days` days (the last third shifted), 30% with outcomes; seconds it took."
    from mltrain_nb.monitoring.log import Recorder
    t0 = time.perf_counter()
    prof = dep.reference_profile(mid)
    rec = Recorder(dep.prediction_log, mid, prof, pipe)
    parts = [make_data(n - n // 3, seed=2), make_data(n // 3, seed=3, shift=0.5)]
    X = pd.concat([p[0] for p in parts], ignore_index=True)
    y = np.concatenate([p[1].to_numpy() for p in parts])
    proba = pipe.predict_proba(X)
    rows = np.empty(n, dtype=rec.dtype)
    start = (time.time() // 86400 - days) * 86400   # UTC midnight: `days` whole daily windows
    rows["ts"] = start + np.linspace(0, days * 86400 - 1, n)
    rows["yhat"], rows["score"], rows["x"] = proba.argmax(1), proba.max(1), prof.encode_frame(X)
    out = np.random.default_rng(4).uniform(size=n) < 0.3
    stamps = pd.to_datetime(rows["ts"], unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    conn = dep.prediction_log.conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO predictions (time, model_id, n_rows, prediction, data, outcome) VALUES (?,?,1,?,?,?)",
        ((stamps[i], mid, f"[{int(rows['yhat'][i])}]", rows[i:i + 1].tobytes(),
          np.float64(y[i]).tobytes() if out[i] else None) for i in range(n)))
    conn.execute("COMMIT")
    return time.perf_counter() - t0


def bench_monitor(tmp: Path) -> dict:
    from mltrain_nb.monitoring.log import read_rows
    from mltrain_nb.monitoring.report import analyse
    dep, mid, pipe = registered(tmp)
    fill = fill_log(dep, mid, pipe)
    times = []
    for _ in range(3):
        t = time.perf_counter(); rep = dep.monitor("bench", window="1D", alert=False); times.append(time.perf_counter() - t)
    prof = dep.reference_profile(mid)
    t = time.perf_counter(); rows = read_rows(dep.prediction_log, mid, prof); t_read = time.perf_counter() - t
    t = time.perf_counter(); analyse(rows, prof, "1D"); t_analyse = time.perf_counter() - t
    w = rep.windows
    res = {"rows": int(w["rows"].sum()), "windows": len(w), "columns": len(prof.columns), "fill_log_s": fill,
           "monitor_s_min": min(times), "monitor_s_median": statistics.median(times), "read_rows_s": t_read,
           "analyse_s": t_analyse, "statuses": w["status"].value_counts().to_dict(),
           "log_mb": dep.prediction_log.path.stat().st_size / 2**20,
           "profile_kb": len(prof.to_json()) / 1024, "goal": "monitor_s_min <= 3 on 2 cores"}
    print(f"monitor: {res['rows']} rows, {res['windows']} windows: {min(times):.2f} s (read {t_read:.2f} s, "
          f"analyse {t_analyse:.2f} s); statuses {res['statuses']}; profile {res['profile_kb']:.1f} KB", flush=True)
    return res


def bench_logging(tmp: Path) -> dict:
    dep, mid, pipe = registered(tmp)
    bare, logged = dep.inference_engine("bench", log=False), dep.inference_engine("bench")
    X, _ = make_data(2000, seed=5)
    rows = X.to_dict("records")
    it_a, it_b = iter(rows * 10), iter(rows * 10)
    a, b = paired(lambda: bare.predict_single(next(it_a)), lambda: logged.predict_single(next(it_b)), 1000)
    pa, pb = paired(lambda: bare.predict_single(rows[0], return_proba=True),
                    lambda: logged.predict_single(rows[0], return_proba=True), 300)
    rec, row0 = logged.recorder, rows[0]
    yhat, score = np.zeros(1), np.ones(1)

    def logging_alone():   # what a logged call adds besides predicting: encode, pack, one insert
        rec.log.append(rec.model_id, [0], n_rows=1, latency_ms=1.0, entity_id=None,
                       data=rec.pack([rec.profile.encode_row(row0)], yhat, score))
    _, alone = paired(lambda: None, logging_alone, 2000)
    res = {"bare_predict_single_ms": a * 1e3, "logged_predict_single_ms": b * 1e3, "overhead_ms": (b - a) * 1e3,
           "logging_alone_ms": alone * 1e3,
           "bare_proba_ms": pa * 1e3, "logged_proba_ms": pb * 1e3, "overhead_proba_ms": (pb - pa) * 1e3,
           "logged_calls": dep.prediction_log.count(), "goal": "overhead_ms <= 1"}
    print(f"logging: predict_single {a * 1e3:.3f} ms bare, {b * 1e3:.3f} ms logged -> +{(b - a) * 1e3:.3f} ms "
          f"(goal <= 1 ms); with proba +{(pb - pa) * 1e3:.3f} ms; encode + pack + insert alone {alone * 1e3:.3f} ms",
          flush=True)
    return res


def _evidently():
    import pandas.core.dtypes.common as common
    if not hasattr(common, "infer_dtype_from_object"): common.infer_dtype_from_object = lambda t: t
    from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
    from evidently.legacy.calculations.stattests.ks_stattest import _ks_stat_test
    from evidently.legacy.calculations.stattests.psi import _psi
    from evidently.legacy.calculations.stattests.utils import get_binned_data
    from evidently.legacy.core import ColumnType
    return _psi, _ks_stat_test, _chi_stat_test, get_binned_data, ColumnType


def bench_evidently() -> dict:
    from scipy.stats import ks_2samp
    from mltrain_nb.monitoring.drift import chi2_test, ks_test, numeric_bins, numeric_counts, psi
    from mltrain_nb.monitoring.profile import category_column, numeric_column
    _psi, _ks, _chi, binned, ColumnType = _evidently()
    rng = np.random.default_rng(0)
    ref = pd.Series(rng.normal(size=20_000))
    col = numeric_column("x", ref)
    out = []
    for shift in (0.0, 0.02, 0.05, 0.1, 0.3, 1.0):
        cur = pd.Series(rng.normal(shift, 1.0, 5000))
        counts, _ = numeric_counts(cur.to_numpy(), np.zeros(len(cur), np.int64), 1, col)
        d, p = ks_test(counts, col, len(ref))
        r_sh, c_sh = binned(ref, cur, ColumnType.Numerical, 30)       # Evidently's own bins (Sturges, combined range)
        ev_psi = _psi(ref, cur, ColumnType.Numerical, 0.1)[0]
        out.append({"shift_sd": shift, "evidently_psi": float(ev_psi),
                    "ours_psi_on_evidently_bins": float(psi(r_sh, c_sh[None])[0]),
                    "ours_psi_default_bins": float(psi(*numeric_bins(counts, col))[0]),
                    "scipy_ks_d": float(ks_2samp(ref, cur).statistic), "ours_ks_d": float(d[0]),
                    "evidently_ks_p": float(_ks(ref, cur, ColumnType.Numerical, 0.05)[0]), "ours_ks_p": float(p[0])})
    cref = pd.Series(rng.choice(list("abcd"), 20_000, p=[.4, .3, .2, .1]))
    ccol = category_column("c", cref)
    cats = []
    for p_cur in ([.4, .3, .2, .1], [.35, .3, .22, .13], [.1, .2, .3, .4]):
        cur = pd.Series(rng.choice(list("abcd"), 5000, p=p_cur))
        counts = np.array([[int((cur == c).sum()) for c in ccol["categories"]] + [0]])
        cats.append({"current_shares": p_cur, "evidently_psi": float(_psi(cref, cur, ColumnType.Categorical, 0.1)[0]),
                     "ours_psi": float(psi(ccol["shares"], counts / counts.sum())[0]),
                     "evidently_chi2_p": float(_chi(cref, cur, ColumnType.Categorical, 0.05)[0]),
                     "ours_chi2_p": float(chi2_test(counts, ccol["shares"])[1][0])})
    worst_same_bins = max(abs(r["evidently_psi"] - r["ours_psi_on_evidently_bins"]) for r in out)
    worst_d = max(abs(r["scipy_ks_d"] - r["ours_ks_d"]) for r in out)
    print(f"evidently: PSI on the same bins differs by at most {worst_same_bins:.2e}; KS D by at most {worst_d:.4f} "
          f"(101-knot profile vs raw reference)", flush=True)
    for r in out: print("  ", {k: round(v, 5) for k, v in r.items()}, flush=True)
    for r in cats: print("  ", r, flush=True)
    return {"numeric": out, "categorical": cats, "max_psi_diff_same_bins": worst_same_bins, "max_ks_d_diff": worst_d}


def shifted_stream(n_windows: int = 30, size: int = 1000, seed: int = 0):
    "A held-out stream whose inputs drift more in each window: rows drawn with weight exp(s * x0), s from 0 to 2."
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=90_000, n_features=20, n_informative=8, n_redundant=4, flip_y=0.05,
                               class_sep=0.8, random_state=seed)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    train, ref, pool = slice(0, 30_000), slice(30_000, 40_000), np.arange(40_000, 90_000)
    rng = np.random.default_rng(seed)
    picks = []
    for k in range(n_windows):
        w = np.exp(2.0 * k / (n_windows - 1) * X["f0"].to_numpy()[pool]); w /= w.sum()
        picks.append(rng.choice(pool, size, replace=False, p=w))
    return X, pd.Series(y), train, ref, np.concatenate(picks)


def bench_cbpe() -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from mltrain_nb.monitoring.profile import build_profile
    from mltrain_nb.monitoring.report import analyse
    X, y, train, ref, stream = shifted_stream()
    model = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(X[train], y[train])
    prof = build_profile(model, X[ref], y[ref])
    S, Sy = X.iloc[stream], y.iloc[stream].to_numpy()
    proba = model.predict_proba(S)
    rows = {"ts": np.arange(len(S), dtype=float), "yhat": proba.argmax(1).astype(float), "score": proba.max(1),
            "x": prof.encode_frame(S), "y": Sy.astype(float)}
    w = analyse(rows, prof, window=1000).windows
    inside = (w["ci_low"] <= w["estimated"]) & (w["estimated"] <= w["ci_high"])
    res = {"windows": len(w), "inside_95ci": int(inside.sum()), "share_inside": float(inside.mean()),
           "realised": w["realised"].round(4).tolist(), "estimated": w["estimated"].round(4).tolist(),
           "drift_status": w["status"].tolist(), "goal": "share_inside >= 0.8"}
    raw = analyse(rows, build_profile(model, X[ref]), window=1000).windows     # no labels: no calibration map
    res["share_inside_uncalibrated"] = float(((raw["ci_low"] <= raw["estimated"]) & (raw["estimated"] <= raw["ci_high"])).mean())
    print(f"cbpe: estimated accuracy inside the realised 95% interval in {inside.sum()}/{len(w)} windows "
          f"(goal >= 80%); realised {w['realised'].iloc[0]:.3f} -> {w['realised'].iloc[-1]:.3f}, "
          f"estimated {w['estimated'].iloc[0]:.3f} -> {w['estimated'].iloc[-1]:.3f}; "
          f"without the calibration map {res['share_inside_uncalibrated']:.0%}", flush=True)
    res["nannyml"] = nannyml_cross_check(model, X[ref], y[ref], S, Sy, w["estimated"].to_numpy())
    return res


def nannyml_cross_check(model, Xr, yr, S, Sy, ours) -> dict:
    "NannyML's CBPE on the same reference and stream (chunks of 1000), beside ours."
    try:
        import pandas.core.dtypes.common as common
        if not hasattr(common, "infer_dtype_from_object"): common.infer_dtype_from_object = lambda t: t
        os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")   # no analytics upload (no network here)
        import nannyml as nml
        def frame(X, y):
            p = model.predict_proba(X)[:, 1]
            return pd.DataFrame({"proba": p, "pred": (p >= 0.5).astype(int), "y": np.asarray(y)})
        est = nml.CBPE(y_pred_proba="proba", y_pred="pred", y_true="y", metrics=["accuracy"], chunk_size=1000,
                       problem_type="classification_binary").fit(frame(Xr, yr))
        df = est.estimate(frame(S, Sy)).filter(period="analysis").to_df()
        theirs = df[("accuracy", "value")].to_numpy()
        return {"nannyml_estimated": np.round(theirs, 4).tolist(), "max_abs_diff": float(np.max(np.abs(theirs - ours)))}
    except Exception as e:   # pandas 3 vs nannyml 0.13: said, not hidden
        return {"error": f"{type(e).__name__}: {e}"[:300]}


def main(parts):
    warnings.simplefilter("ignore")
    out = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        if "monitor" in parts: out["monitor_1m"] = bench_monitor(Path(tmp) / "m")
        if "logging" in parts: out["logging"] = bench_logging(Path(tmp) / "l")
    if "evidently" in parts: out["evidently"] = bench_evidently()
    if "cbpe" in parts: out["cbpe"] = bench_cbpe()
    RESULTS.mkdir(exist_ok=True)
    name = "monitoring.json" if len(parts) == 4 else f"monitoring_{'_'.join(parts)}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main(sys.argv[1:] or ["monitor", "logging", "evidently", "cbpe"])
