"""The faces of `engine.automl` (issue 32, item 2): the live panel fed by a real search, and the REST job
(`POST /api/ml/models/automl`) through a real server, with the training job's lifecycle. Small budgets."""
import time

import numpy as np
import pandas as pd
import pytest

from mltrain_nb.engine import MLTrainingEngine


@pytest.fixture
def cancer():
    from sklearn.datasets import load_breast_cancer
    b = load_breast_cancer(as_frame=True)
    return b.data.iloc[:, :8].assign(diagnosis=np.asarray(b.target_names)[b.target])


def test_panel_follows_a_real_search(cancer, quiet):
    from mltrain_nb.panels import AutoMLPanel
    panel = AutoMLPanel(display=False)
    panel.widget
    eng = MLTrainingEngine(cv=3, progress=False, random_state=0, tracking={"enabled": False},
                           callbacks=[panel])
    r = eng.automl(cancer, "diagnosis", time_budget=6, models=["logistic_regression", "lightgbm"])
    panel.finish(r)
    assert panel.state == "finished" and panel.started is not None
    assert sum(panel.counts.values()) == len(r.history)                 # every trial seen once
    assert set(panel.learners) <= {"logistic_regression", "lightgbm"} and panel.learners
    assert panel.best is not None and panel.best["learner"] in panel.learners
    assert panel.ensemble and set(panel.ensemble["members"]) == set(r.ensemble)
    assert panel.summary_html and "Final model" in panel.summary_html
    assert panel.stats["redraws"] <= panel.stats["events"]               # throttled, never more than one per event
    assert panel._bar.value == 1000 and panel._bar.bar_style == "success"


def test_rest_automl_job(tmp_path, cancer):
    import io

    from test_server import Server, wait_job
    home = tmp_path
    s = Server(home)
    try:
        c = s.client
        buf = io.BytesIO()
        cancer.to_csv(buf, index=False)
        up = c.post("/api/ml/datasets/upload", files={"file": ("cancer.csv", buf.getvalue(), "text/csv")},
                    data={"name": "cancer", "target_column": "diagnosis"})
        assert up.status_code == 200, up.text
        ds = up.json()["dataset_id"]
        bad = c.post("/api/ml/models/automl", json={"dataset_id": ds, "target_column": "diagnosis", "time_budget": 0})
        assert bad.status_code == 422 and "time_budget" in bad.text
        bad = c.post("/api/ml/models/automl", json={"dataset_id": ds, "target_column": "diagnosis",
                                                    "models": ["lightgbmm"]})
        assert bad.status_code == 422 and "lightgbm" in bad.text
        r = c.post("/api/ml/models/automl", json={"dataset_id": ds, "target_column": "diagnosis", "time_budget": 15,
                                                  "cv": 3, "models": ["logistic_regression", "lightgbm"]})
        assert r.status_code == 200 and r.json()["message"] == "AutoML job started", r.text
        job = wait_job(c, r.json()["job_id"])
        assert job["status"] == "completed" and job["kind"] == "automl", job["error"]
        res = job["results"]
        assert res["ensemble"] and res["history"] and res["metric"]
        assert job["progress"]["fraction"] == 1.0 and job["progress"]["trials_done"] == len(res["history"])
        assert job["mlflow_run_id"]
    finally:
        s.stop()
