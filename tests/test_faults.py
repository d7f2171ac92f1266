"""Fault injection: SIGKILL at random points of saving, store creation and tracked training; a full file system;
four processes on one fresh store. After each fault: the store opens, every model saved before still loads with its
metadata, no run is left RUNNING by a process that is gone, and no temporary file is left behind.

Killed work runs in a child forked from this process (Linux/macOS), so a trial costs the operation, not a fresh
import of scikit-learn and MLflow. Trials draw their kill times from a fixed seed, so a failure can be replayed."""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltrain_nb.engine import MLTrainingEngine

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked children; needs os.fork (Linux, macOS)")

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 20
OFF = {"enabled": False}


def data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["u", "v"], n)})
    return X, pd.Series(np.where(X["a"] + rng.normal(0, .3, n) > 0, "yes", "no"))


def temporaries(folder: Path) -> list[Path]:
    "Temporary files and folders of ours (`.NAME.<pid>.xxxx.tmp`, a store's `-journal`) anywhere under `folder`."
    return [p for p in folder.rglob(".*") if ".tmp" in p.name]


def forget_engines():
    "Drop MLflow's cached SQLAlchemy engines, so a forked child never shares a parent's pooled SQLite connection."
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    for engine in list(getattr(SqlAlchemyStore, "_engine_map", {}).values()): engine.dispose()
    getattr(SqlAlchemyStore, "_engine_map", {}).clear()


def fork(work) -> int:
    "Run `work()` in a forked child; returns its pid. The child never returns into pytest."
    forget_engines()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                work()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    return pid


def kill_after(pid: int, delay: float) -> None:
    "SIGKILL `pid` after `delay` seconds (or reap it if it finished first)."
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done: return
        time.sleep(0.002)
    try: os.kill(pid, signal.SIGKILL)
    except ProcessLookupError: pass
    os.waitpid(pid, 0)


def completed(log: Path) -> list[str]:
    "The lines a killed child finished writing (a kill can cut the last one)."
    if not log.exists(): return []
    text = log.read_text()
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]


# ---- kill -9 while saving ----------------------------------------------------------------------------------

def test_kill_during_save_keeps_every_saved_model(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eng = MLTrainingEngine(cv=2, progress=False, tracking=OFF)
        X, y = data()
        eng.train_model(X, y, "logistic_regression")
        eng.train_model(X, y, "decision_tree")
    expected = {n: eng.predict(X, n) for n in eng.models}
    folder, log = tmp_path / "models", tmp_path / "saved.log"
    rng = random.Random(15)

    def save_forever():
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        for i in range(10_000):
            name = ("logistic_regression", "decision_tree")[i % 2]
            path = eng.save_model(name, folder)
            os.write(fd, f"{name}\t{path}\n".encode())   # one small O_APPEND write: whole or absent

    for trial in range(TRIALS):
        kill_after(fork(save_forever), rng.uniform(0.0, 0.4))
        saved = [line.split("\t") for line in completed(log)]
        for name in expected:   # the current version of each model loads (and cleans what the kill left)
            if any(n == name for n, _ in saved):
                fresh = MLTrainingEngine(progress=False, tracking=OFF)
                res = fresh.load_model(folder / name)
                assert res["model_name"] == name and (fresh.predict(X) == expected[name]).all(), trial
        for name, path in saved[-6:]:   # and every version a save finished, with its metadata
            res = MLTrainingEngine(progress=False, tracking=OFF).load_model(path)
            assert res["model_name"] == name and res["features"] == ["a", "b", "c"], (trial, path)
        assert not temporaries(folder), (trial, temporaries(folder))
    assert len(completed(log)) > TRIALS   # the children did save, between the kills


# ---- kill -9 while creating the store -------------------------------------------------------------------------

def test_kill_during_store_creation_leaves_a_store_that_opens(tmp_path):
    "Each trial kills a child creating (or, once created, opening) a store; the store is absent or complete, never half."
    from mltrain_nb.tracking import ExperimentTracker, store_state
    rng = random.Random(16)
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ExperimentTracker(tmp_path / "timed", "created")   # how long one creation takes here: kills land all along it
    build = time.monotonic() - start
    forget_engines()
    out, outcomes = tmp_path / "s0", []
    for trial in range(TRIALS):
        kill_after(fork(lambda: ExperimentTracker(out, "created")), rng.uniform(0.0, 1.2 * build))
        state = store_state(out / "mlflow.db")
        assert state in ("missing", "ready"), (trial, state)   # never a half-created store
        outcomes.append(state)
        if state == "ready":   # it opens, takes a run, and the killed builds before it left nothing behind
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = ExperimentTracker(out, "created")
                with t.run("after the kill") as rid: t.log_metrics({"m": 1.0})
            assert t.client.get_run(rid).info.status == "FINISHED"
            assert not temporaries(out), (trial, temporaries(out))
            forget_engines()
            out = tmp_path / f"s{trial + 1}"   # the next trial kills the creation of a fresh store
    with warnings.catch_warnings():   # the last one, killed or not, opens too
        warnings.simplefilter("ignore")
        ExperimentTracker(out, "created")
    assert store_state(out / "mlflow.db") == "ready" and not temporaries(out)
    forget_engines()
    assert "missing" in outcomes, outcomes   # some kills did land inside a creation


# ---- kill -9 during tracked training ----------------------------------------------------------------------------

def test_kill_during_tracked_training_leaves_no_run_running(tmp_path):
    from mltrain_nb.tracking import ExperimentTracker, end_dead_runs
    X, y = data(40)
    out = tmp_path / "experiments"
    tracking = {"output_dir": str(out), "log_plots": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ExperimentTracker(out, "mltrain")   # the store exists before the first trial; the trials kill training
    forget_engines()
    rng = random.Random(17)

    def train():
        MLTrainingEngine(cv=2, progress=False, tracking=tracking).compare(X, y, models=["logistic_regression", "decision_tree"])

    for trial in range(TRIALS):
        kill_after(fork(train), rng.uniform(0.2, 2.5))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = ExperimentTracker(out, "mltrain")   # starting a tracker ends the dead child's runs
        # the tracking process finishes the messages the killed training sent (it may still be opening its runs), then
        # ends what is open; a run it could not end carries its pid, for end_dead_runs
        deadline = time.monotonic() + 120
        while True:
            runs = t.client.search_runs([t.experiment_id], max_results=5000)
            running = [r.info.run_id for r in runs if r.info.status == "RUNNING"]
            if not running or time.monotonic() > deadline: break
            time.sleep(0.1)
            end_dead_runs(t.client)
        assert not running, (trial, running)
        for r in runs:
            if r.info.status == "FAILED" and "mltrain.failure" in r.data.tags:
                why = r.data.tags["mltrain.failure"]
                assert "ended without ending the run" in why or "training process ended before this run did" in why, why
        assert not temporaries(out), (trial, temporaries(out))
        forget_engines()
    statuses = {r.info.status for r in runs}
    assert "FAILED" in statuses or "FINISHED" in statuses


# ---- a full file system -----------------------------------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    "A 4 MiB tmpfs (Linux, as root); skipped with the reason where the platform does not allow mounting one."
    mnt = tmp_path / "small"
    mnt.mkdir()
    if sys.platform != "linux": pytest.skip("a small file system is mounted as tmpfs, which needs Linux")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0: pytest.skip(f"cannot mount a small tmpfs here (needs root and a mount-capable container): {r.stderr.strip()}")
    try: yield mnt
    finally: subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(folder: Path) -> Path:
    "Fill the file system of `folder` until it refuses another byte."
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 10, 64, 1):
            try:
                while True: f.write(b"\0" * chunk)
            except OSError: pass
    return filler


def test_full_disk_save_keeps_the_previous_version(small_fs):
    import errno
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eng = MLTrainingEngine(cv=2, progress=False, tracking=OFF)
        X, y = data()
        eng.train_model(X, y, "random_forest")
    first = Path(eng.save_model("random_forest", small_fs / "models"))
    filler = fill(small_fs)
    with pytest.raises(OSError) as e:
        eng.save_model("random_forest", small_fs / "models")
    assert e.value.errno == errno.ENOSPC
    res = MLTrainingEngine(progress=False, tracking=OFF).load_model(small_fs / "models" / "random_forest")
    assert res["model_name"] == "random_forest" and (small_fs / "models" / "random_forest" / "CURRENT").read_text().strip() == first.parent.name
    assert not temporaries(small_fs)
    filler.unlink()
    assert Path(eng.save_model("random_forest", small_fs / "models")).parent.name == "v2"


def test_full_disk_tracking_keeps_the_trained_model(small_fs):
    X, y = data()
    out = small_fs / "experiments"
    fill(small_fs)
    eng = MLTrainingEngine(cv=2, progress=False, tracking={"output_dir": str(out)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = eng.train_model(X, y, "logistic_regression")
    assert "logistic_regression" in eng.models and res["cv_mean"] is not None
    tracking_warnings = [w for w in caught if "rack" in str(w.message)]
    assert len(tracking_warnings) == 1, [str(w.message) for w in caught]
    assert not temporaries(small_fs)


# ---- four processes on one fresh store ----------------------------------------------------------------------------

FOUR = """
import sys, warnings; warnings.simplefilter("ignore")
out = sys.argv[1]
if sys.argv[2] == "train":
    import numpy as np, pandas as pd
    from mltrain_nb.engine import MLTrainingEngine
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    y = pd.Series(np.where(X["a"] > 0, "yes", "no"))
    r = MLTrainingEngine(cv=2, progress=False, tracking={"output_dir": out, "log_plots": False, "log_models": False}).compare(
        X, y, models=["logistic_regression"])
    print(r.run_id)
else:
    from mltrain_nb.tracking import ExperimentTracker
    t = ExperimentTracker(out, "mltrain")
    with t.run("first use") as rid: t.log_metrics({"m": 1.0})
    print(rid)
"""


def four_processes(tmp_path, kind: str) -> None:
    out = tmp_path / "experiments"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", FOUR, str(out), kind], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=tmp_path) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-800:] for _, err in outs]
    from mltrain_nb.tracking import ExperimentTracker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = ExperimentTracker(out, "mltrain")
    runs = t.client.search_runs([t.experiment_id])
    assert {o.strip() for o, _ in outs} <= {r.info.run_id for r in runs}
    assert all(r.info.status == "FINISHED" for r in runs) and len(runs) == (8 if kind == "train" else 4)
    assert not temporaries(tmp_path)
    forget_engines()


def test_four_processes_on_one_fresh_store(tmp_path):
    four_processes(tmp_path, "track")


@pytest.mark.slow
def test_four_processes_training_on_one_fresh_store(tmp_path):
    four_processes(tmp_path, "train")
