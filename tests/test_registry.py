"The registry across real processes: two processes promoting at once, a process killed right after registering, bad input that changes nothing."
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    return X, (X.x1 > 0).astype(int)


def _deployment(tmp_path):
    from mltrain_nb.registry import ModelDeployment
    return ModelDeployment(tmp_path / "models", output_dir=tmp_path / "exp")


def _register(dep, n, name="m", task="classification"):
    from sklearn.linear_model import LogisticRegression
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    return [dep.save_model(model, name, task_type=task, feature_names=list(X.columns), input_example=X.head(3)) for _ in range(n)]


def _promote_many(tmp_path, versions, rounds, start):
    "Run in a spawned process: promote `versions` in turn, `rounds` times, starting with the other process."
    dep = _deployment(tmp_path)
    start.wait(timeout=120)
    for _ in range(rounds):
        for v in versions: dep.promote_to_production("m", v)


def _snapshot(dep):
    "Everything a failed operation must leave as it was."
    return ([(e["name"], e["registry_version"], e["status"]) for e in dep.list_models()],
            {n: dep._aliases(n) for n in dep.names()}, len(dep.history()), dep.list_ab_tests())


def test_two_processes_promoting_at_once_leave_one_production(tmp_path):
    from mlflow import MlflowClient
    dep = _deployment(tmp_path)
    _register(dep, 4)
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_promote_many, args=(tmp_path, vs, 6, start)) for vs in (["1", "2"], ["3", "4"])]
    for p in procs: p.start()
    for p in procs: p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    raw = MlflowClient(dep.tracking_uri)   # the raw tags, not the statuses derived from the alias
    tagged = [mv.version for mv in raw.search_model_versions("name = 'm'") if mv.tags.get("status") == "Production"]
    production = raw.get_registered_model("m").aliases["production"]
    assert [str(v) for v in tagged] == [str(production)]
    assert sum(e["status"] == "Production" for e in dep.list_models("m")) == 1
    # replaying the history gives the same production version, and every promotion is in it
    promos = [e for e in dep.history("m") if e["action"] == "promote" and e["to"] == "Production"]
    assert len(promos) == 2 * 2 * 6 and str(promos[-1]["version"]) == str(production)
    archived = [e for e in dep.history("m") if e["from"] == "Production" and e["to"] == "Archived"]
    assert len(archived) == len(promos) - 1 - sum(1 for a, b in zip(promos, promos[1:]) if a["version"] == b["version"])


KILL_AFTER_REGISTER = """
import os, signal, sys
sys.path.insert(0, {root!r})
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from mltrain_nb.registry import ModelDeployment
dep = ModelDeployment({models!r}, output_dir={exp!r})
create = dep.client.create_model_version
def create_then_die(*a, **k):
    create(*a, **k)
    os.kill(os.getpid(), signal.SIGKILL)      # the crash: registered, nothing after it ran
dep.client.create_model_version = create_then_die
X = pd.DataFrame({{"x1": np.arange(20.0), "x2": np.arange(20.0) % 3}})
dep.save_model(LogisticRegression().fit(X, X.x1 > 9), "m", task_type="classification", feature_names=["x1", "x2"])
"""


def test_killed_right_after_registering_leaves_a_version_with_a_status(tmp_path):
    from mlflow import MlflowClient
    dep = _deployment(tmp_path)
    _register(dep, 1)
    code = KILL_AFTER_REGISTER.format(root=ROOT, models=str(tmp_path / "models"), exp=str(tmp_path / "exp"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    raw = MlflowClient(dep.tracking_uri)
    versions = raw.search_model_versions("name = 'm'")
    assert len(versions) == 2 and all(mv.tags.get("status") == "Training" for mv in versions)   # before any repair
    dep = _deployment(tmp_path)                 # reopening needs no repair and the version is usable
    assert not any(e["action"] == "repair" for e in dep.history("m"))
    model, meta = dep.load_model("m/2")
    assert meta["status"] == "Training" and meta["task_type"] == "classification" and meta["feature_count"] == 2
    X, _ = _data()
    assert len(model.predict(X)) == len(X)
    dep.promote_to_production("m/2")
    assert dep.entry("m/2")["status"] == "Production"


def test_killed_at_random_times_while_registering(tmp_path):
    "A process registering in a loop, killed with SIGKILL at random moments: every version has a status, no entry points at nothing."
    import time
    from mlflow import MlflowClient
    dep = _deployment(tmp_path)
    code = KILL_AFTER_REGISTER.format(root=ROOT, models=str(tmp_path / "models"), exp=str(tmp_path / "exp")).replace(
        "dep.client.create_model_version = create_then_die\n", "").replace(
        'dep.save_model(', 'print("ready", flush=True)\nfor i in range(100): dep.save_model(').replace('"m", task_type', 'f"m", task_type')
    rng = np.random.default_rng(0)
    for delay in rng.uniform(0.0, 1.5, 3):
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(delay)
        p.send_signal(signal.SIGKILL); p.wait()
    raw = MlflowClient(dep.tracking_uri)
    versions = raw.search_model_versions("name = 'm'")
    assert all(mv.tags.get("status") in ("Training",) for mv in versions)
    dep = _deployment(tmp_path)
    for e in dep.list_models():
        assert os.path.exists(os.path.join(e["artifacts"]["model"], "MLmodel")), e


def test_bad_input_changes_nothing(tmp_path):
    from mltrain_nb.abtest import ModelDeployment  # noqa: F401  (adds the A/B methods)
    from mltrain_nb.errors import ABTestError, ModelNotFoundError, RegistryError
    dep = _deployment(tmp_path)
    a, b = _register(dep, 2)
    (r,) = _register(dep, 1, name="r", task="regression")
    dep.promote_to_production(a)
    dep.setup_ab_test(a, b, "done", 0.5)
    dep.end_ab_test("done")
    before = _snapshot(dep)
    X, _ = _data()
    bad = [(ModelNotFoundError, lambda: dep.promote_to_production("m/9")),
           (ModelNotFoundError, lambda: dep.promote_to_production("nothere")),
           (RegistryError, lambda: dep.rollback("m")),                       # v1 is the only version ever in production
           (RegistryError, lambda: dep.rollback("m", to_version="1")),
           (ModelNotFoundError, lambda: dep.rollback("m", to_version="7")),
           (RegistryError, lambda: dep.delete_version(a)),
           (ABTestError, lambda: dep.setup_ab_test(a, r, "mixed", 0.5)),
           (ABTestError, lambda: dep.setup_ab_test(a, b, "ratio", 1.5)),
           (ABTestError, lambda: dep.setup_ab_test(a, b, "ratio", 0.0)),
           (ABTestError, lambda: dep.predict_ab_test("done", X.head(1), "u1")),
           (ABTestError, lambda: dep.end_ab_test("done", winner="A")),
           (ABTestError, lambda: dep.predict_ab_test("nope", X.head(1), "u1"))]
    for err, call in bad:
        with pytest.raises(err) as info: call()
        assert "\n" not in str(info.value) and len(str(info.value)) > 20
        assert _snapshot(dep) == before, str(info.value)
