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
    from mltrain_nb.registry import ModelDeployment
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


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def test_serve_answers_like_the_inference_engine(tmp_path):
    """`mltrain serve NAME` starts MLflow's scoring server on 127.0.0.1; a real HTTP request gets the
    InferenceEngine's predictions; SIGTERM stops it all."""
    import urllib.request
    from mltrain_nb.inference import InferenceEngine, ModelLoader
    dep = _deployment(tmp_path)
    (mid,) = _register(dep, 1)
    dep.promote_to_production(mid)
    X, _ = _data()
    served = []
    def ask(port):
        body = json.dumps({"dataframe_split": {"columns": list(X.columns), "data": X.head(20).to_numpy().tolist()}}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r: served.extend(json.loads(r.read())["predictions"])
    code, out = serve_and_stop("m", dep.tracking_uri, signal.SIGTERM, while_up=ask)
    engine = InferenceEngine(ModelLoader(dep.tracking_uri).load_from_registry("m", alias="production"))
    assert served == engine.predict(X.head(20)).tolist()
    assert code == 128 + signal.SIGTERM, out


def test_cli_models_and_bad_serve(tmp_path, capsys):
    from mltrain_nb.cli import main
    dep = _deployment(tmp_path)
    a, b = _register(dep, 2)
    dep.promote_to_production(b)
    assert main(["models", "--tracking-uri", dep.tracking_uri]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [l.split()[0] for l in lines] == ["m/1", "m/2"] and "Production" in lines[1] and "Training" in lines[0]
    assert main(["models", "--status", "production", "--tracking-uri", dep.tracking_uri]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(["models", "--status", "prodution", "--tracking-uri", dep.tracking_uri]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mltrain: error: Unknown status 'prodution'. Did you mean 'Production'?") and err.count("\n") == 1
    assert main(["serve", "m@staged", "--tracking-uri", dep.tracking_uri]) == 2
    assert capsys.readouterr().err.startswith("mltrain: error: Cannot load the model at models:/m@staged")


# ---- the magics in a real IPython shell ----------------------------------------------------------

def _usage_error(f) -> str:
    from IPython.core.error import UsageError
    with pytest.raises(UsageError) as e: f()
    assert type(e.value) is UsageError, type(e.value)
    msg = str(e.value)
    assert msg and "\n" not in msg, msg
    return msg


def test_magics_ship_a_model(tmp_path, iris_df, quiet, capsys):
    "%train -> %mltrain register --promote -> predict -> a second version -> A/B test -> rollback, in a real shell."
    from IPython.testing.globalipapp import get_ipython
    ip = get_ipython()
    ip.run_line_magic("load_ext", "mltrain_nb")
    try:
        ip.run_line_magic("config", "MLTrain.progress = False")
        ip.run_line_magic("config", f"MLTrain.output_dir = {str(tmp_path / 'exp')!r}")
        ip.user_ns["iris"] = iris_df
        X = iris_df.drop(columns="species")
        ip.user_ns["X"] = X
        r = ip.run_line_magic("train", "iris --target species --models logistic_regression,decision_tree --cv 2 --no-panel -o r")
        before = ip.run_line_magic("mltrain", "models")
        assert len(before) == 0
        e1 = ip.run_line_magic("mltrain", "register r --name iris --promote")
        assert (e1["registry_version"], e1["status"], e1["artifacts"]["model"]) == (1, "Production", r.results[r.best_model_name].model_uri)
        pred = ip.run_line_magic("mltrain", "predict iris X")
        assert list(pred) == list(r.predict(X))
        assert list(ip.run_line_magic("mltrain", "predict iris/1 X")) == list(pred)
        other = next(m for m in r.results if m != r.best_model_name)
        e2 = ip.run_line_magic("mltrain", f"register r --name iris --model {other}")
        models = ip.run_line_magic("mltrain", "models --name iris")
        assert list(models["status"]) == ["Production", "Training"] and list(models["registry_version"]) == [1, 2]
        ip.run_line_magic("mltrain", "promote iris 2")
        assert list(ip.run_line_magic("mltrain", "models --status production")["registry_version"]) == [2]
        ip.run_line_magic("mltrain", "rollback iris")
        assert list(ip.run_line_magic("mltrain", "models --status production")["registry_version"]) == [1]
        cfg = ip.run_line_magic("mltrain", "ab-test create iris/1 iris/2 --name iris-ab --split 0.3")
        assert (cfg["model_a"], cfg["model_b"], cfg["split_ratio"]) == (e1["model_id"], e2["model_id"], 0.3)
        ip.user_ns["one"] = X.head(1)
        preds, used = ip.run_line_magic("mltrain", "ab-test predict iris-ab one --user u7")
        assert used in (e1["model_id"], e2["model_id"]) and len(preds) == 1
        assert ip.run_line_magic("mltrain", "ab-test results iris-ab")["message"].startswith("Not enough data yet")
        ip.run_line_magic("mltrain", "ab-test end iris-ab --winner B")
        assert list(ip.run_line_magic("mltrain", "models --status production")["registry_version"]) == [2]
        ip.run_line_magic("mltrain", "demote iris 2")
        assert list(ip.run_line_magic("mltrain", "models --status staged")["registry_version"]) == [2]
        ip.run_line_magic("mltrain", "archive iris 1")

        # every mistake: one plain UsageError line, and nothing changed in the registry
        from mltrain_nb.registry import ModelDeployment
        dep = ModelDeployment(output_dir=tmp_path / "exp")
        snapshot = _snapshot(dep)
        msgs = [_usage_error(lambda: ip.run_line_magic("mltrain", line)) for line in (
            "promote iris 9", "promote irsi 1", "promote iris", "rollback iris --to 7", "rollback nothere",
            "models --status prodution", "register nope --name x", "register r --name bad/name", "ab-test create iris/1 iris/2",
            "ab-test create iris/1 iris/2 --name t --split 1.5", "ab-test predict iris-ab one --user u1",
            "ab-test predict iris-ab one", "ab-test results", "ab-test stop iris-ab", "predict iris@production nothere",
            "predict iris@staged iris")]
        assert _snapshot(dep) == snapshot
        assert "has no version 9" in msgs[0] and "Did you mean 'iris'" in msgs[1]
        assert "Unknown status 'prodution'" in msgs[5]
        assert "strictly between 0 and 1" in msgs[9] and "ended at" in msgs[10] and "needs --user" in msgs[11]
        assert "Column 'species' is not a feature" in msgs[15]
    finally:
        ip.run_line_magic("unload_ext", "mltrain_nb")
        ip.config.pop("MLTrain", None)
        for k in ("iris", "X", "r", "one"): ip.user_ns.pop(k, None)


# ---- issue 31 (ship-model): serve stops its server, a killed registration leaves no folder, register from the shell

def _descendants(pid: int) -> set[int]:
    "Every live process below `pid` (from /proc)."
    kids, found = {}, set()
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try:
            with open(f"/proc/{d}/stat") as f: ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError): continue
        kids.setdefault(ppid, []).append(int(d))
    todo = [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in found: found.add(k); todo.append(k)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f: return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError: return False


def _port_free(port: int) -> bool:
    "Nothing listens on the port: a connection is refused, and a server could bind it (as servers do, past TIME_WAIT)."
    import socket
    with socket.socket() as c:
        if c.connect_ex(("127.0.0.1", port)) == 0: return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try: s.bind(("127.0.0.1", port)); s.listen(); return True
        except OSError: return False


def serve_and_stop(ref: str, tracking_uri: str, sig: int, cwd=None, while_up=None) -> tuple[int, str]:
    """Start `mltrain serve ref` as a user would, wait for /ping, send `sig` to it; (exit status, output).
    Asserts nothing it started is left."""
    import time
    import urllib.request
    port = _free_port()
    cmd = [sys.executable, "-c", "import sys; from mltrain_nb.cli import main; sys.exit(main())",
           "serve", ref, "--port", str(port), "--tracking-uri", tracking_uri]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONPATH": ROOT})
    started = set()
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200: break
            except OSError: pass
            assert proc.poll() is None and time.time() < deadline, "the server did not come up"
            time.sleep(0.5)
        if while_up is not None: while_up(port)
        started = _descendants(proc.pid)   # none when it serves in its own process
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        deadline = time.time() + 10
        while any(_alive(p) for p in started) and time.time() < deadline: time.sleep(0.2)
        assert not [p for p in started if _alive(p)], "a process it started outlived mltrain serve"
        assert _port_free(port), f"port {port} is still taken"
        return proc.returncode, out
    finally:
        for p in [proc.pid, *started]:
            try: os.kill(p, signal.SIGKILL)
            except OSError: pass
        proc.wait()


KILL_WHILE_SAVING = """
import os, signal, sys
sys.path.insert(0, {root!r})
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from mltrain_nb.registry import ModelDeployment
dep = ModelDeployment({models!r}, output_dir={exp!r})
save = dep._save_local
def save_then_die(*a, **k):
    save(*a, **k)
    os.kill(os.getpid(), signal.SIGKILL)      # the model's files written, no version yet
dep._save_local = save_then_die
X = pd.DataFrame({{"x1": np.arange(20.0), "x2": np.arange(20.0) % 3}})
dep.save_model(LogisticRegression().fit(X, X.x1 > 9), "m", task_type="classification")
"""


def test_killed_while_registering_leaves_no_model_folder(tmp_path):
    dep = _deployment(tmp_path)
    _register(dep, 1)
    code = KILL_WHILE_SAVING.format(root=ROOT, models=str(tmp_path / "models"), exp=str(tmp_path / "exp"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    folders = lambda: sorted(p.name for p in (tmp_path / "models" / "m").iterdir())
    assert len(folders()) == 2                  # the orphan, before anyone opens the registry
    dep = _deployment(tmp_path)                 # the next open removes it
    assert folders() == [e["model_id"] for e in dep.list_models("m")] and len(folders()) == 1


def test_a_bad_name_registers_nothing(tmp_path):
    from mltrain_nb.errors import RegistryError
    from sklearn.linear_model import LogisticRegression
    dep = _deployment(tmp_path)
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    for bad in ["x" * 300, "abc\n", "abc ", "a..b", "tab\there"]:
        with pytest.raises(RegistryError) as e: dep.save_model(model, bad)
        assert "\n" not in str(e.value)
    with pytest.raises(RegistryError, match="fitted model with a predict"): dep.save_model("not a model", "m")
    assert dep.names() == [] and not any((tmp_path / "models").iterdir())
