"""The live panels without a browser: widget state, throttling and flat memory in-process, and a real Jupyter kernel
(nbclient, widget state stored) whose saved notebook holds the widget views, their state and the static summary."""
import json
import time
import tracemalloc
from pathlib import Path

import nbformat
import pytest

from mltrain_nb.events import (TrainingStarted, FoldDone, IterationDone, ModelDone, ModelFailed, TrialDone,
                               TrainingFinished, TrainingFailed)
from mltrain_nb.panels import TrainingPanel, TuningPanel, panel_callbacks, in_notebook

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _iterations(p, n, model="xgboost", start=0):
    for i in range(start, n): p(IterationDone(model, i, 1 / (i + 1), 0.2 + abs(i - n // 2) / 1e5, "logloss"))


# ---- throttling ---------------------------------------------------------------------------------

def test_10k_iterations_redraw_at_most_5_per_second():
    p = TrainingPanel(display=False)
    p.widget                                     # built: redraws really update widgets
    p(TrainingStarted("classification", 1000, 10, ("xgboost",), 3))
    t0 = time.perf_counter()
    _iterations(p, 10_000)
    p(ModelDone("xgboost", {"accuracy": 0.9}, {}, 1.0))
    p(TrainingFinished(("xgboost",), "xgboost", 1.0))
    elapsed = time.perf_counter() - t0
    assert p.stats["events"] == 10_003
    assert p.stats["redraws"] <= elapsed * 5 + 3, (p.stats, elapsed)
    assert p.stats["chart_renders"] <= elapsed / p.chart_interval + 3, (p.stats, elapsed)
    assert len(p.curves["xgboost"].series) == 10_000 and len(p.curves["xgboost"].series.data()) <= p.history_cap + 1
    assert p.curves["xgboost"].best[0] == 5_000          # the early-stopping point: lowest validation loss
    assert bytes(p._chart.value).startswith(b"\x89PNG")


def test_throttle_with_a_fake_clock_and_final_flush():
    now = [0.0]
    p = TrainingPanel(display=False, clock=lambda: now[0])
    p.widget
    p(TrainingStarted("classification", 100, 4, ("lightgbm",), 2))
    for i in range(500):                          # 100 events a second for 5 s
        now[0] += 0.01
        p(IterationDone("lightgbm", i, 1.0 / (i + 1), None, "binary_logloss"))
    assert 1 + 22 <= p.stats["redraws"] <= 1 + 25, p.stats
    before = p.stats["redraws"]
    p(TrainingFinished(("lightgbm",), "lightgbm", 5.0))   # the end always flushes, however recent the last redraw
    assert p.stats["redraws"] == before + 1
    # the chart: at most one render a second of the fake clock, plus the final one
    assert p.stats["chart_renders"] <= 5 + 2, p.stats


def test_events_from_a_burst_do_not_lose_state():
    now = [0.0]
    p = TrainingPanel(display=False, clock=lambda: now[0])
    p.widget
    p(TrainingStarted("classification", 100, 4, ("rf", "lr"), 5))
    for f in range(1, 6): p(FoldDone("rf", f, 5, {"accuracy": 0.9}, 0.1))   # all within one throttle window
    assert p._bar.value == 0                      # not redrawn yet ...
    assert p.steps_done == 5                      # ... but the state is current
    now[0] += 0.25
    p(ModelDone("rf", {"accuracy": 0.9}, {"accuracy": 0.91}, 1.0))
    assert p._bar.value == 5 and "0.9000" in p._table.value


# ---- widget state ----------------------------------------------------------------------------------

def test_progress_table_best_and_log():
    p = TrainingPanel(display=False, metric="f1")
    p.widget
    p(TrainingStarted("classification", 150, 4, ("rf", "lr", "knn"), 2))
    for name, f1 in (("rf", 0.91), ("lr", 0.95)):
        for f in (1, 2): p(FoldDone(name, f, 2, {"accuracy": 0.9, "f1": f1}, 0.1))
        p(ModelDone(name, {"accuracy": 0.9, "f1": f1}, {"f1": f1 - 0.01}, 1.0))
    p(FoldDone("knn", 1, 2, {"f1": 0.5}, 0.1))
    p(ModelFailed("knn", "ValueError: bad k"))
    p(TrainingFinished(("rf", "lr"), "lr", 3.0))
    assert (p._bar.value, p._bar.max, p._bar.bar_style) == (6, 6, "success")
    assert p.best_model == "lr"                   # ranked by the metric given, not the task's default
    table = p._table.value
    assert "cv f1" in table and "0.9500" in table and "failed" in table
    best_row = table[table.index(">lr<") - 200: table.index(">lr<")]
    assert "background:#e3f4e1" in best_row
    assert "knn failed and was skipped: ValueError: bad k" in p._logw.value
    assert p._logw.layout.display is None         # shown once there is something in it
    assert "mltrain summary" in p.summary_html and "data:image/png;base64," in p.summary_html


def test_warnings_raised_while_training_reach_the_log_and_the_hook_is_removed():
    import warnings
    before = warnings.showwarning
    p = TrainingPanel(display=False)
    p(TrainingStarted("classification", 150, 4, ("lr",), 2))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("lr: lbfgs failed to converge", UserWarning)
    p(TrainingFailed("MLTrainError: Every model failed", 1.0))
    assert warnings.showwarning is before
    assert any("failed to converge" in t for _, t in p.log)
    assert p.status_text().startswith("stopped after 0:01: MLTrainError: Every model failed")


def test_tuning_panel_counts_table_and_budget():
    now = [0.0]
    tp = TuningPanel(metric="accuracy", n_trials=10, timeout=60, display=False, clock=lambda: now[0])
    tp.widget
    tp(TrainingStarted("classification", 150, 4, ("rf_tuned",), 3))
    states = ["COMPLETE", "PRUNED", "COMPLETE", "FAIL"]
    for i, st in enumerate(states):
        now[0] += 3.0
        score = 0.9 + i / 100 if st == "COMPLETE" else None
        tp(TrialDone("rf_tuned", i, st, score, {"max_depth": i + 2}, 3.0, 0.92 if i >= 2 else 0.9, 0, 0, 0))
    tp(TrainingFinished(("rf_tuned",), "rf_tuned", 12.0))
    assert tp.counts == {"COMPLETE": 2, "PRUNED": 1, "FAIL": 1}
    assert (tp._bar.value, tp._bar.max) == (4, 10)
    assert "2 complete · 1 pruned · 1 failed" in tp._status.value
    t = tp._table.value
    assert t.index(">3<") < t.index(">0<") and "PRUNED" in t
    assert tp.best["number"] == 2
    assert bytes(tp._chart.value).startswith(b"\x89PNG")
    now[0] = 3.0                                   # after one trial of 3 s: 9 left at 3 s each vs 57 s of timeout
    tp.counts = {"COMPLETE": 1, "PRUNED": 0, "FAIL": 0}
    assert tp.time_left() == pytest.approx(27.0)


def test_panel_callbacks_only_in_a_kernel():
    assert not in_notebook()
    assert panel_callbacks("train") == [] and panel_callbacks("tune") == []


# ---- memory -------------------------------------------------------------------------------------

def _growth(p, feed):
    tracemalloc.start()
    try:
        feed(p, 0, 100)
        after_100 = tracemalloc.get_traced_memory()[0]
        feed(p, 100, 10_000)
        after_10k = tracemalloc.get_traced_memory()[0]
    finally: tracemalloc.stop()
    return after_10k - after_100


def test_memory_flat_over_10k_iteration_events():
    p = TrainingPanel(display=False)
    p.widget
    p(TrainingStarted("classification", 1000, 10, ("xgboost",), 3))
    grew = _growth(p, lambda p, a, b: _iterations(p, b, start=a))
    assert grew < 20e6, grew
    assert grew < 2e6, grew                       # in fact it is a bounded buffer: well under the 20 MB allowed


def test_memory_flat_over_10k_trials():
    tp = TuningPanel(display=False)
    tp.widget
    tp(TrainingStarted("classification", 1000, 10, ("xgboost_tuned",), 3))
    def feed(p, a, b):
        for i in range(a, b): p(TrialDone("xgboost_tuned", i, "COMPLETE", 0.5 + i / 1e5, {"max_depth": i % 9}, 0.01,
                                          0.5 + i / 1e5, i, 0, 0))
    grew = _growth(tp, feed)
    assert grew < 20e6, grew
    assert len(tp.trials) == 200


# ---- a real kernel -----------------------------------------------------------------------------------

CELLS = [
    "import warnings\nwarnings.simplefilter('ignore')\n"
    "from sklearn.datasets import load_iris\n"
    "from mltrain_nb.engine import MLTrainingEngine\n"
    "from mltrain_nb.panels import panel_callbacks, finish_panels, show_results\n"
    "iris = load_iris(as_frame=True).frame.rename(columns={'target': 'species'})",
    "callbacks = panel_callbacks('train')\nassert len(callbacks) == 1, 'a kernel gets a live panel'\n"
    "engine = MLTrainingEngine({'cv': 3, 'tracking': {'enabled': False}, 'early_stopping': {'enabled': True, 'patience': 5}},\n"
    "                          callbacks=callbacks)\n"
    "result = engine.compare(iris, 'species', models=['logistic_regression', 'lightgbm', 'decision_tree'])\n"
    "finish_panels(callbacks, result)\n"
    "print('stats', callbacks[0].stats)",
    "show_results(result)",
]


def _run_notebook(path: Path, cells: list[str], timeout: int = 600):
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, kernel_name="python3", store_widget_state=True, timeout=timeout,
                            resources={"metadata": {"path": str(path)}})
    client.execute()
    nbformat.write(nb, path / "executed.ipynb")
    return nb


def test_executed_notebook_keeps_widget_views_state_and_static_summary(tmp_path):
    pytest.importorskip("nbclient")
    nb = _run_notebook(tmp_path, CELLS)
    outs = [o for c in nb.cells for o in c.get("outputs", [])]
    errors = [o for o in outs if o.get("output_type") == "error"]
    assert not errors, errors
    views = [o["data"][WIDGET_VIEW]["model_id"] for o in outs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) >= 2, "the training panel and the results panel are widget views"
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    assert all(v in state for v in views), "every view's model is in the saved widget state"
    models = {m["model_name"] for m in state.values()}
    assert {"VBoxModel", "IntProgressModel", "HTMLModel", "ImageModel", "TabModel", "DropdownModel"} <= models, models
    # the panel's final state is what was saved: the progress bar full and green
    bars = [m["state"] for m in state.values() if m["model_name"] == "IntProgressModel"]
    assert any(b["value"] == b["max"] == 9 and b["bar_style"] == "success" for b in bars), bars
    # the record that lasts: a static HTML summary with the leaderboard and an embedded PNG, updated by finish
    summaries = [o["data"]["text/html"] for o in outs if "mltrain summary" in o.get("data", {}).get("text/html", "")]
    assert len(summaries) == 1, "one summary, updated in place by finish_panels"
    html = summaries[0]
    assert "data:image/png;base64," in html and "test_accuracy" in html and "logistic_regression" in html
    # cheap: nothing near the IOPub rate limit, and a handful of redraws
    text = "".join(o.get("text", "") for o in outs)
    assert "IOPub" not in text and "rate exceeded" not in text
    stats = json.loads(text.split("stats ", 1)[1].split("\n", 1)[0].replace("'", '"'))
    assert stats["bytes"] < 2e6, stats
