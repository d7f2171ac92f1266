"Experiment automation end to end: the `mltrain pipeline` command in real processes, resume, rebuild, local processes and a Dask LocalCluster giving identical results, and Ctrl-C keeping the finished cells."
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

MODELS = ["logistic_regression", "decision_tree"]
SCORES = ["cv_accuracy", "cv_accuracy_std", "test_accuracy", "train_accuracy"]


def _cli(*args, cwd, timeout=300):
    "Run `mltrain` in a fresh interpreter (this checkout first on the path)."
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-c", "from mltrain_nb.cli import entry; entry()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _tracker(path, db="mlflow.db"):
    "A tracker on the SQLite store `path/db` (explicit: set_tracking_uri also sets MLFLOW_TRACKING_URI in this process)."
    from mltrain_nb.tracking import ExperimentTracker
    return ExperimentTracker(path, "mltrain-pipeline", tracking_uri=f"sqlite:///{Path(path).resolve()}/{db}")


@pytest.fixture
def small():
    "240 rows of the demo data (breast cancer with synthesized patients and visit dates)."
    from mltrain_nb.automation import demo_data
    return demo_data().sample(240, random_state=0)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    cases = [(["--quick_run", "--models", "xgbost"], "Did you mean 'xgboost'?"),
             (["--data", "nope.csv", "--target", "y"], "No file at 'nope.csv'"),
             (["--quick-run", "--splits", "temporal", "--time-column", "mean radius", "--group_column", "nope"],
              "Missing group column 'nope'")]
    for argv, needle in cases:
        p = _cli("pipeline", *argv, cwd=tmp_path)
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and needle in p.stderr, p.stderr
    assert not (tmp_path / "experiments").exists() and not (tmp_path / "reports" / "experiment_results").exists()


def test_quick_run_then_resume_then_rebuild(tmp_path):
    p = _cli("pipeline", "--quick_run", "--models", "logistic_regression,decision_tree", "--n-jobs", "1", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "[4/4]" in p.stdout and "consolidated_report.html" in p.stdout, p.stdout
    out = tmp_path / "reports"
    cells = sorted(f.stem for f in (out / "experiment_results").glob("*.json"))
    assert cells == ["decision_tree__event_aware", "decision_tree__stratified",
                     "logistic_regression__event_aware", "logistic_regression__stratified"]
    rec = json.loads((out / "experiment_results" / "decision_tree__event_aware.json").read_text())
    assert set(rec["metrics"]) == {"train", "cv", "cv_std", "cv_folds", "test"} and rec["split_check"]["groups"]["shared"] == 0
    feat = json.loads((out / "feature_data" / "decision_tree__event_aware.json").read_text())
    assert feat["importance"] and feat["selection"]["method"] == "f_classif" and "patient" in feat["dropped"]
    html = (out / "consolidated_reports" / "consolidated_report.html").read_text()
    assert "Matrix: cv accuracy" in html and "data:image/png;base64," in html

    tracker = _tracker(tmp_path / "experiments")
    runs = tracker.find_runs()
    parents = [r for r in runs if r["tags"].get("mltrain.kind") == "pipeline"]
    kids = [r for r in runs if r["tags"].get("mltrain.kind") == "cell"]
    assert len(parents) == 1 and len(kids) == 4 and {r["status"] for r in runs} == {"FINISHED"}
    assert {r["parent_run_id"] for r in kids} == {parents[0]["run_id"]}
    assert all(r["tags"]["mltrain.config_hash"] and r["tags"]["mltrain.data_fingerprint"] for r in kids)

    # the same command again: every cell is found in the store, nothing is trained
    p2 = _cli("pipeline", "--quick_run", "--models", "logistic_regression", "decision_tree", "--n-jobs", "1", cwd=tmp_path)
    assert p2.returncode == 0, p2.stderr
    assert p2.stdout.count("(resumed)") == 4 and "0 to train" in p2.stdout, p2.stdout
    assert len([r for r in tracker.find_runs() if r["tags"].get("mltrain.kind") == "cell"]) == 4

    # --skip_training rebuilds every output from the store alone
    import shutil
    shutil.rmtree(out)
    p3 = _cli("pipeline", "--skip_training", cwd=tmp_path)
    assert p3.returncode == 0, p3.stderr
    assert len(list((out / "experiment_results").glob("*.json"))) == 4
    assert (out / "consolidated_reports" / "consolidated_report.md").exists()
    assert len(tracker.find_runs()) == len(runs) + 1          # only the resumed pipeline's parent run was added


def test_processes_and_dask_give_identical_results(tmp_path, small, quiet):
    from mltrain_nb.automation import run_experiments
    distributed = pytest.importorskip("distributed")
    kw = dict(target="diagnosis", time_column="visit_date", group_column="patient", models=MODELS,
              splits=["stratified", "event_aware"], cv=3)
    serial = run_experiments(small, n_jobs=1, output=str(tmp_path / "a"), tracking_uri=f"sqlite:///{tmp_path}/a.db", **kw)
    procs = run_experiments(small, n_jobs=2, output=str(tmp_path / "b"), tracking_uri=f"sqlite:///{tmp_path}/b.db", **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        dask = run_experiments(small, dask_address=cluster.scheduler_address, output=str(tmp_path / "c"),
                               tracking_uri=f"sqlite:///{tmp_path}/c.db", **kw)
    assert len(serial.trained) == 4 and not serial.failed
    for other in (procs, dask):
        pd.testing.assert_frame_equal(serial.table[SCORES], other.table[SCORES])
        assert other.records["decision_tree__event_aware"]["features"] == serial.records["decision_tree__event_aware"]["features"]
    # the workers only computed: every run was written by the parent, under its pipeline run
    kids = _tracker(tmp_path, "b.db").find_runs({"mltrain.kind": "cell"})
    assert len(kids) == 4 and {r["parent_run_id"] for r in kids} == {procs.parent_run_id}


def test_a_pipeline_in_processes_leaves_joblib_parallel_working(tmp_path, small, quiet):
    "The cells' pool is the pipeline's own: joblib's loky backend (the engine's parallel folds) still works after it."
    from mltrain_nb.automation import run_experiments
    from mltrain_nb.engine import MLTrainingEngine
    run_experiments(small, target="diagnosis", models=["decision_tree"], splits=["stratified", "random"], cv=2, n_jobs=2,
                    output=str(tmp_path / "out"), tracking_uri=f"sqlite:///{tmp_path}/p.db")
    res = MLTrainingEngine(cv=2, n_jobs=2, progress=False, tracking={"enabled": False}).compare(
        small.drop(columns=["patient", "visit_date"]), "diagnosis", models=["decision_tree", "logistic_regression"])
    assert set(res.results) == {"decision_tree", "logistic_regression"}


def test_a_failing_cell_is_recorded_and_the_rest_continue(tmp_path, small, quiet):
    from mltrain_nb.automation import run_experiments
    few = small.assign(patient=[f"g{i % 3}" for i in range(len(small))])   # 3 groups: 3-fold group CV cannot run on the 2 left
    res = run_experiments(few, target="diagnosis", group_column="patient", models=["decision_tree"],
                          splits=["stratified", "group"], cv=3, n_jobs=1, output=str(tmp_path / "r"),
                          tracking_uri=f"sqlite:///{tmp_path}/m.db")
    assert list(res.failed) == ["decision_tree__group"] and res.records["decision_tree__stratified"]["status"] == "done"
    t = _tracker(tmp_path, "m.db")
    status = {r["run_name"]: (r["status"], r["tags"].get("mltrain.error", "")) for r in t.find_runs({"mltrain.kind": "cell"})}
    assert status["decision_tree__stratified"][0] == "FINISHED"
    assert status["decision_tree__group"][0] == "FAILED" and "groups" in status["decision_tree__group"][1]
    assert "Cell decision_tree\\_\\_group failed" in res.reports["markdown"].read_text()


def test_ctrl_c_keeps_finished_cells_and_ends_their_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-c", "from mltrain_nb.cli import entry; entry()",
                             "pipeline", "--quick_run", "--models", "logistic_regression", "decision_tree", "lightgbm",
                             "--splits", "stratified", "temporal", "--n-jobs", "1", "--cv", "5"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # Ctrl-C's default, as from a terminal: a pytest started with `&` passes SIGINT on ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = tmp_path / "reports" / "experiment_results"
    deadline = time.time() + 240
    while time.time() < deadline and not list(results.glob("*.json")) and proc.poll() is None: time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err
    finished = sorted(f.stem for f in results.glob("*.json") if f.stem != "matrix")
    assert 1 <= len(finished) < 6, finished
    tracker = _tracker(tmp_path / "experiments")
    runs = tracker.find_runs()
    assert "RUNNING" not in {r["status"] for r in runs}
    parent = [r for r in runs if r["tags"].get("mltrain.kind") == "pipeline"]
    assert [r["status"] for r in parent] == ["KILLED"]
    cells = {r["run_name"]: r["status"] for r in runs if r["tags"].get("mltrain.kind") == "cell"}
    assert sorted(cells) == finished and set(cells.values()) == {"FINISHED"}
    assert (tmp_path / "reports" / "consolidated_reports" / "consolidated_report.md").exists()
