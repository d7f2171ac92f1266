"""Monitoring (issue 33) where notebooks cannot hold it well: alerts to a real HTTP server, a log written before
monitoring existed, the engine's registration writing a profile, bad input leaving nothing half written, and the
binned statistics against their exact versions (Hypothesis)."""
import json
import sqlite3
import threading
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st


def _data():
    from sklearn.datasets import load_breast_cancer
    bc = load_breast_cancer(as_frame=True)
    return bc.data, bc.target


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    "A registered, promoted classifier with a profile and 160 logged one-row calls (the last 50 drift)."
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from mltrain_nb.registry import ModelDeployment
    X, y = _data()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X.iloc[::2], y.iloc[::2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dep = ModelDeployment(output_dir=tmp_path_factory.mktemp("store"))
        mid = dep.save_model(clf, name="cancer", task_type="classification", input_example=X.head(2),
                             reference=(X.iloc[1::2], y.iloc[1::2]))
    dep.promote_to_production(mid)
    eng = dep.inference_engine("cancer")
    ids = []
    for n, i in enumerate(np.random.default_rng(0).permutation(np.arange(1, len(X), 2))[:160]):
        row = X.iloc[i].to_dict()
        if n >= 110: row["mean radius"] += 4
        ids.append((i, eng.predict_single(row, entity_id=f"p{i}", return_id=True)[1]))
    return dep, mid, X, y, ids


class _Hook(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):
        _Hook.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a): pass


def test_status_changes_reach_the_history_and_a_real_webhook(served):
    from mltrain_nb.monitoring import MonitorConfig
    dep, mid, X, y, _ = served
    srv = HTTPServer(("127.0.0.1", 0), _Hook)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        cfg = MonitorConfig(webhook_url=f"http://127.0.0.1:{srv.server_port}/hook")
        rep = dep.monitor("cancer", window=55, config=cfg)
        assert list(rep.windows["status"]) == ["ok", "ok", "drift"] and rep.status == "drift"
        assert len(_Hook.got) == 1 and _Hook.got[0]["to"] == "drift" and "mean radius" in _Hook.got[0]["columns"]
        assert rep.alert["webhook"] == "sent" and dep.history("cancer")[-1]["to"] == "drift"
        assert dep.monitor("cancer", window=55, config=cfg).alert is None and len(_Hook.got) == 1   # once
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(5)
    # a second version drifts while the webhook is gone: recorded with a warning, served and reported as usual
    model, _ = dep.load_model(mid)
    v2 = dep.save_model(model, name="cancer", task_type="classification", input_example=X.head(2),
                        reference=(X.iloc[1::2], y.iloc[1::2]))
    eng = dep.inference_engine(v2)
    shifted = X.iloc[1::2].head(60).assign(**{"mean radius": lambda d: d["mean radius"] + 4})
    pred, pid = eng.predict(shifted, return_id=True)
    assert pid is not None and len(pred) == 60
    with pytest.warns(RuntimeWarning, match="not delivered"):
        rep2 = dep.monitor(v2, window=60, config=cfg.model_copy(update={"webhook_timeout": 2}))
    assert rep2.status == "drift" and rep2.alert["webhook"].startswith("failed")
    assert dep.history("cancer")[-1]["version"] == 2 and len(_Hook.got) == 1


def test_outcomes_by_id_and_entity_and_bad_ones_write_nothing(served):
    from mltrain_nb.errors import ModelNotFoundError
    from mltrain_nb.monitoring import MonitoringError
    dep, mid, X, y, ids = served
    i, pid = ids[0]
    assert dep.record_outcome(pid, int(y.iloc[i]))["outcomes"] == 1
    j, _ = ids[1]
    assert dep.record_outcome(f"p{j}", int(y.iloc[j]), model="cancer")["model_id"] == mid
    k, pid_k = ids[2]
    for bad, match in (((10**9, 1), "No logged prediction"), ((pid_k, "tulip"), "not a class"),
                       ((pid_k, [0, 1]), "one outcome per row"), (("nobody", 1), "No logged prediction"),
                       ((pid_k, None), "not a class"), ((2.5, 1), "must be an integer")):
        with pytest.raises(MonitoringError, match=match):
            dep.record_outcome(*bad)
    outcome = dep.prediction_log.conn.execute("SELECT outcome FROM predictions WHERE id = ?", (pid_k,)).fetchone()[0]
    assert outcome is None
    with pytest.raises(ModelNotFoundError):
        dep.monitor("no-such-model")
    with pytest.raises(MonitoringError, match="no logged predictions since"):
        dep.monitor("cancer", since="2999-01-01")
    rep = dep.monitor("cancer", window=55, alert=False)
    assert rep.windows["outcomes"].sum() == 2 and rep.to_dict()["windows"][0]["outcomes"] == 2


def test_a_log_from_before_monitoring_is_migrated_and_keeps_its_rows(tmp_path):
    from mltrain_nb.abtest import _SCHEMA, PredictionLog
    from mltrain_nb.monitoring import Recorder, build_profile, read_rows
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    path = tmp_path / "mltrain_ab.db"
    with sqlite3.connect(path) as c:   # version 1, as written by the A/B tests before issue 33
        c.executescript(_SCHEMA)
        c.execute("INSERT INTO predictions (time, test, model_id, arm, user_id, prediction) VALUES "
                  "('2024-01-01T00:00:00.000Z', 't', 'm1', 'A', 'u1', '[1]')")
        c.execute("INSERT INTO outcomes (time, test, user_id, y_true) VALUES ('t', 't', 'u1', '1')")
    log = PredictionLog(path)
    assert log.conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [(r["user_id"], r["prediction"], r["has_outcome"]) for r in log.read()] == [("u1", [1], False)]
    X, y = _data()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    prof = build_profile(clf, X, y)
    rec = Recorder(log, "m1", prof, clf)
    _, pid, _ = rec.predict(clf, X.head(3))
    rows = read_rows(log, "m1", prof)
    assert pid == 2 and rows["x"].shape == (3, X.shape[1]) and log.count() == 2
    again = PredictionLog(path)   # a second process opening it: nothing to do
    assert again.count() == 2 and again.conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == 1


def test_the_engines_register_writes_a_profile_from_held_out_rows(tmp_path, quiet):
    from mltrain_nb.engine import MLTrainingEngine
    from mltrain_nb.registry import ModelDeployment
    X, y = _data()
    eng = MLTrainingEngine({"task": "classification", "cv": 2, "tracking": {"enabled": False}}, progress=False)
    eng.train_model(X, y, model_type="logistic_regression")
    dep = ModelDeployment(output_dir=tmp_path / "exp")
    entry = eng.register(name="eng-cancer", deployment=dep)
    prof = dep.reference_profile(entry["model_id"])
    assert prof.task == "classification" and prof.calibration is not None
    assert prof.n_rows == len(eng.holdout[next(iter(eng.models))][0]) and len(prof.to_json()) < 100_000


@settings(max_examples=15, deadline=None, print_blob=True)
@given(shift=st.floats(-1.5, 1.5), scale=st.floats(0.5, 2.0), seed=st.integers(0, 10**6))
def test_binned_ks_and_psi_track_the_exact_figures(shift, scale, seed):
    "The KS statistic from the 101-knot profile is within 1/100 (+ noise-free tolerance) of scipy's on the raw rows."
    from scipy.stats import ks_2samp
    from mltrain_nb.monitoring.drift import ks_test, numeric_bins, numeric_counts, psi
    from mltrain_nb.monitoring.profile import numeric_column
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(size=5000), rng.normal(shift, scale, 2000)
    col = numeric_column("x", ref)
    counts, miss = numeric_counts(cur, np.zeros(len(cur), np.int64), 1, col)
    d, p = ks_test(counts, col, len(ref))
    assert abs(d[0] - ks_2samp(ref, cur).statistic) <= 0.0101
    r, c = numeric_bins(counts, col)
    edges = np.quantile(ref, np.linspace(0, 1, 11))[1:-1]
    exact = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=10) / len(cur)
    assert np.allclose(c[0], exact) and np.isclose(psi(r, c)[0], psi(r, exact[None])[0])
    assert miss.sum() == 0 and 0 <= p[0] <= 1
