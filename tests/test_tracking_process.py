"The tracking process (issue 16): what happens when either side goes away, and models whose class lives in a script."
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import pytest

from mltrain_nb.engine import MLTrainingEngine
from mltrain_nb.tracking_process import tracking_process

ROOT = Path(__file__).resolve().parents[1]


def _runs(uri):
    client = mlflow.MlflowClient(uri)
    return client, client.search_runs([e.experiment_id for e in client.search_experiments()])


def _script(tmp_path, body):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_runs_left_open_by_a_dead_training_process_end_failed(tmp_path):
    out = _script(tmp_path, f"""
        import os
        from mltrain_nb.tracking import ExperimentTracker
        from mltrain_nb.tracking_process import ProcessTracker
        pt = ProcessTracker(ExperimentTracker({str(tmp_path / 'exp')!r}, connect=False))
        run = pt.run("left open")
        ref = run.__enter__()
        pt.drain()                       # the run exists, RUNNING
        print("PID", pt.process.proc.pid, flush=True)
        os._exit(3)                      # the training process dies without ending it
    """)
    assert out.returncode == 3, out.stderr
    pid = int(out.stdout.split("PID")[1])
    for _ in range(600):                 # the tracking process sees the socket close, ends the run, exits
        try: os.kill(pid, 0)
        except ProcessLookupError: break
        time.sleep(0.1)
    _, runs = _runs(f"sqlite:///{tmp_path / 'exp' / 'mlflow.db'}")
    assert [(r.info.run_name, r.info.status) for r in runs] == [("left open", "FAILED")]
    assert "ended before" in runs[0].data.tags["mltrain.failure"]


def test_a_model_class_defined_in_a_script_is_logged_and_loads(tmp_path):
    out = _script(tmp_path, f"""
        import numpy as np, pandas as pd
        from sklearn.base import BaseEstimator, ClassifierMixin
        from mltrain_nb.engine import MLTrainingEngine
        class Majority(ClassifierMixin, BaseEstimator):   # lives in __main__: only a by-value pickle can carry it
            def fit(self, X, y): self.classes_, counts = np.unique(y, return_counts=True); self.top_ = self.classes_[counts.argmax()]; return self
            def predict(self, X): return np.full(len(X), self.top_)
        rng = np.random.default_rng(0)
        X = pd.DataFrame(rng.normal(size=(80, 3)), columns=list("abc")); y = pd.Series(np.r_[np.zeros(50), np.ones(30)].astype(int))
        eng = MLTrainingEngine(cv=2, progress=False, tracking={{"output_dir": {str(tmp_path / 'exp')!r}, "log_plots": False}})
        res = eng.train_model(X, y, custom_model=Majority(), model_name="majority")
        print("URI", res.model_uri)
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    uri = out.stdout.split("URI")[1].strip()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'exp' / 'mlflow.db'}")
    try:
        import pandas as pd
        model = mlflow.sklearn.load_model(uri)
        assert list(model.predict(pd.DataFrame({"a": [0.0], "b": [1.0], "c": [2.0]}))) == [0]
    finally:
        mlflow.set_tracking_uri(None)


def test_the_tracking_process_has_its_own_session_and_a_dead_one_falls_back_to_a_thread(iris_df, tmp_path, quiet):
    eng = MLTrainingEngine(cv=2, progress=False, tracking={"output_dir": str(tmp_path / "exp"), "log_plots": False})
    first = eng.train_model(iris_df, "species", "logistic_regression")
    proc = tracking_process().proc
    assert os.getsid(proc.pid) != os.getsid(0)   # a kernel interrupt (sent to the kernel's process group) misses it
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    second = eng.train_model(iris_df, "species", "decision_tree")
    assert first.model_uri and second.model_uri and first.run_id != second.run_id
    client, runs = _runs(eng.tracker.tracking_uri)
    assert {(r.info.run_name, r.info.status) for r in runs} == {("logistic_regression", "FINISHED"), ("decision_tree", "FINISHED")}
    assert int(client.get_run(second.run_id).data.tags["mltrain.pid"]) == os.getpid()   # logged on a thread, here


def _rows(tracker, df): return len(df)


def test_a_drain_from_another_thread_never_ends_the_frames_a_job_is_sent_with(tmp_path):
    # CI once lost a model's log this way: two engines in two threads, one ending its call while the other sent a job
    import threading
    import pandas as pd
    from mltrain_nb.tracking import ExperimentTracker
    from mltrain_nb.tracking_process import ProcessTracker
    pt = ProcessTracker(ExperimentTracker(str(tmp_path / "exp"), connect=False))
    p, df = pt.process, pd.DataFrame({"a": range(5)})
    first = pt.submit(_rows, df)          # df is shared now, until the next drain
    others = []
    def share_then_let_another_thread_drain(obj):
        marker = type(p).share(p, obj)    # df's marker, from the first job
        others.append(threading.Thread(target=p.drain))
        others[-1].start()
        time.sleep(0.3)                   # the other thread's drain goes out now, unless it waits for this job's message
        return marker
    p.share = share_then_let_another_thread_drain
    try: second = pt.submit(_rows, df)
    finally: del p.share
    others[0].join(60)
    pt.drain()
    assert (first.result, second.result, second.error) == (5, 5, None)


def test_a_stores_problem_waits_for_its_own_drain(tmp_path):
    from mltrain_nb.tracking import ExperimentTracker
    from mltrain_nb.tracking_process import ProcessTracker
    (tmp_path / "file").write_text("not a folder")
    broken = ProcessTracker(ExperimentTracker(str(tmp_path / "file" / "exp"), connect=False))
    fine = ProcessTracker(ExperimentTracker(str(tmp_path / "exp"), connect=False))
    broken.submit(_rows, [1, 2])
    assert fine.drain() == []             # this drain brings back the broken store's problem...
    problems = broken.drain()             # ...which reaches the broken store's drain
    assert len(problems) == 1 and "cannot be opened" in problems[0], problems


def test_an_engine_that_tracks_starts_the_process_when_built_and_an_unused_one_is_stopped_at_exit(tmp_path):
    out = _script(tmp_path, """
        import os
        import mltrain_nb.tracking_process as tp
        from mltrain_nb.engine import MLTrainingEngine
        MLTrainingEngine(tracking={"enabled": False})
        MLTrainingEngine(tracking={"background": False})
        print("OFF", tp._PROCESS is None)
        MLTrainingEngine()
        p = tp._PROCESS
        print("ON", p is not None and p.alive, os.path.exists("experiments"))
        tp._close_process()              # what the interpreter does at exit
        print("CLOSED", p.proc.returncode)
    """)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[lines.index("OFF") + 1] == "True"
    assert lines[lines.index("ON") + 1:lines.index("ON") + 3] == ["True", "False"]   # no store, no folder
    assert lines[lines.index("CLOSED") + 1] == str(-signal.SIGTERM)                    # stopped, not waited for
