"Issue 15: one test (or a few) per defect, each failing on the code before the fix. Fault injection is in test_faults.py."
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError

from mltrain_nb.engine import MLTrainingEngine
from mltrain_nb.errors import ConfigError, DataError, ModelIntegrityError, MLTrainError

ROOT = Path(__file__).resolve().parents[1]
OFF = {"enabled": False}


def engine(**kw):
    return MLTrainingEngine(cv=kw.pop("cv", 3), progress=False, tracking=kw.pop("tracking", OFF), **kw)


def small(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, pd.Series(np.where(X["a"] > 0, "yes", "no"))


def python(code: str, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLTRAIN_SIGNING_KEY", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


# ---- 1. the store is created once, whole; a half-created one is rebuilt ------------------------------------

def test_1_half_created_store_is_rebuilt(tmp_path, quiet):
    from mltrain_nb.tracking import ExperimentTracker
    db = tmp_path / "mlflow.db"   # what a kill in the middle of MLflow's migrations leaves: an old schema, no runs
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE alembic_version (version_num VARCHAR(32)); INSERT INTO alembic_version VALUES ('451aebb31d03');"
                      "CREATE TABLE experiments (experiment_id INTEGER, name TEXT); CREATE TABLE runs (run_uuid VARCHAR(32));")
    con.close()
    t = ExperimentTracker(tmp_path, "x")
    with t.run("ok") as rid: t.log_metrics({"m": 1.0})
    assert t.client.get_run(rid).info.status == "FINISHED"


# four processes creating one store at once: tests/test_faults.py::test_four_processes_on_one_fresh_store


# ---- 2. a failed re-save keeps the previous model; orphans are cleaned ------------------------------------

def test_2_failed_resave_keeps_the_previous_model(tmp_path, monkeypatch, quiet):
    X, y = small()
    eng = engine()
    eng.train_model(X, y, "logistic_regression")
    eng.save_model("logistic_regression", tmp_path)
    expected = eng.predict(X)
    def disk_full(*a, **k): raise OSError(28, "No space left on device")
    monkeypatch.setattr(json, "dumps", disk_full)   # the metadata write of the second save fails
    with pytest.raises(OSError):
        eng.save_model("logistic_regression", tmp_path)
    monkeypatch.undo()
    fresh = engine()
    fresh.load_model(tmp_path, "logistic_regression")
    assert (fresh.predict(X) == expected).all()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_2_orphans_of_killed_saves_are_removed(tmp_path, quiet):
    X, y = small()
    eng = engine()
    eng.train_model(X, y, "logistic_regression")
    eng.save_model("logistic_regression", tmp_path)
    orphan = tmp_path / ".logistic_regression.joblib.999999999.k1ll3d.tmp"   # a writer that no longer exists
    orphan.write_bytes(b"half a model")
    eng.save_model("logistic_regression", tmp_path)
    assert not orphan.exists()


def test_2_the_old_flat_pair_still_loads(tmp_path, quiet):
    import hashlib, joblib
    X, y = small()
    eng = engine()
    res = eng.train_model(X, y, "logistic_regression")
    joblib.dump(res.model, tmp_path / "old.joblib")   # what save_model wrote before versions
    meta = {"model_name": "old", "algorithm": "logistic_regression", "task": "classification", "features": ["a", "b"],
            "classes": ["no", "yes"], "sha256": hashlib.sha256((tmp_path / "old.joblib").read_bytes()).hexdigest()}
    (tmp_path / "old.json").write_text(json.dumps(meta))
    fresh = engine()
    assert fresh.load_model(tmp_path, "old").name == "old"
    assert (fresh.predict(X, "old") == eng.predict(X)).all()


# ---- 3. names cannot leave the folder ------------------------------------------------------------------------

def test_3_model_names_cannot_escape_the_folder(tmp_path, quiet):
    X, y = small()
    eng = engine()
    target = tmp_path / "models"
    for bad in ("../../escaped", str(tmp_path / "abs"), "a/b"):
        eng.train_model(X, y, "logistic_regression", model_name=bad)
        with pytest.raises(ConfigError, match="cannot be used as a file name"):
            eng.save_model(bad, target)
    with pytest.raises(ConfigError):
        engine().load_model(target, "../../escaped")
    assert sorted(p.name for p in tmp_path.rglob("*")) in ([], ["models"])
    from mltrain_nb.fileio import check_name, safe_name
    assert check_name(safe_name("../../escaped")) == "escaped"


# ---- 4. a tracking failure keeps the model; 5. each engine its own store ------------------------------------

def test_4_a_store_that_cannot_be_opened_keeps_the_trained_model(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should go")
    X, y = small()
    eng = engine(tracking={"output_dir": str(blocker / "experiments")})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = eng.train_model(X, y, "logistic_regression")
    assert "logistic_regression" in eng.models and res["cv_mean"] > 0.5
    tracking = [str(w.message) for w in caught if "racking" in str(w.message)]
    assert len(tracking) == 1 and "trained and kept" in tracking[0], tracking


def test_4_a_run_whose_logging_failed_ends_failed(tmp_path):
    out = tmp_path / "experiments"
    out.mkdir()
    (out / "artifacts").write_text("a file where the artifact folder should go")   # the store answers, artifacts fail
    X, y = small()
    eng = engine(tracking={"output_dir": str(out), "log_plots": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = eng.train_model(X, y, "logistic_regression")
    assert "logistic_regression" in eng.models
    run = eng.tracker.client.search_runs([eng.tracker.experiment_id])[0]
    assert run.info.status == "FAILED" and "mltrain.tracking_error" in run.data.tags


def test_5_each_engine_uses_its_own_store(tmp_path, quiet):
    X, y = small()
    a = engine(tracking={"output_dir": str(tmp_path / "a"), "log_models": False, "log_plots": False})
    b = engine(tracking={"output_dir": str(tmp_path / "b"), "log_models": False, "log_plots": False})
    a.train_model(X, y, "logistic_regression")
    b.train_model(X, y, "decision_tree")
    a.train_model(X, y, "decision_tree")
    names = lambda e: sorted(r.info.run_name for r in e.tracker.client.search_runs([e.tracker.experiment_id]))
    assert names(a) == ["decision_tree", "logistic_regression"] and names(b) == ["decision_tree"]
    assert "MLFLOW_TRACKING_URI" not in os.environ   # nothing process-wide was set


def test_5_two_engines_in_two_threads_keep_every_logged_model(tmp_path, quiet):
    import threading
    X, y = small()
    results, errors = {}, []
    def work(key):
        try:
            eng = engine(cv=2, tracking={"output_dir": str(tmp_path / key), "log_plots": False})
            results[key] = (eng, eng.compare(X, y, models=["logistic_regression", "decision_tree"]))
        except Exception as e: errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in ("one", "two")]
    for t in threads: t.start()
    for t in threads: t.join(300)
    assert not errors, errors
    for eng, result in results.values():
        children = [r for r in eng.tracker.client.search_runs([eng.tracker.experiment_id])
                    if r.data.tags.get("mlflow.parentRunId") == result.run_id]
        assert len(children) == 2 and all("mltrain.model_uri" in r.data.tags for r in children), \
            [(r.info.run_name, r.data.tags.get("mltrain.tracking_error")) for r in children]


# ---- 6, 7: the data ------------------------------------------------------------------------------------------

def test_6_y_is_paired_with_x_by_index(quiet):
    X, y = small(120)
    shuffled = y.sample(frac=1, random_state=1)   # same labels, other order
    res = engine().train_model(X, shuffled, "logistic_regression")
    assert res["cv_mean"] > 0.85
    with pytest.raises(DataError, match="index of y does not match"):
        engine().train_model(X, y.set_axis(range(1000, 1120)), "logistic_regression")


def test_7_sparse_categorical_column_does_not_fail_every_model(quiet):
    X, y = small(60)
    X["rare"] = pd.Series([None] * 58 + ["u", "v"], dtype=object)   # missing in whole CV folds
    result = engine(cv=5).compare(X, y, models=["logistic_regression", "random_forest"])
    assert set(result.leaderboard.index) == {"logistic_regression", "random_forest"}


# ---- 8. signatures and damaged metadata ------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path, quiet):
    X, y = small()
    eng = engine()
    eng.train_model(X, y, "logistic_regression")
    return Path(eng.save_model("logistic_regression", tmp_path))


def test_8_replaced_model_with_a_rewritten_checksum_is_refused_with_a_key(saved, monkeypatch):
    import hashlib
    monkeypatch.setenv("MLTRAIN_SIGNING_KEY", "s3cret")
    folder = saved.parent.parent.parent
    X, y = small()
    eng = engine()
    eng.train_model(X, y, "logistic_regression")
    path = Path(eng.save_model("logistic_regression", folder / "signed"))
    engine().load_model(path)   # signed and intact: loads
    meta_file = path.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    path.write_bytes(path.read_bytes() + b"payload")
    meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ModelIntegrityError, match="signature"):
        engine().load_model(path)
    with pytest.raises(ModelIntegrityError, match="not signed"):
        engine().load_model(saved)   # saved before the key was set


@pytest.mark.parametrize("damage, message", [
    (lambda t: t[: len(t) // 2], "not valid JSON"),
    (lambda t: "[1, 2, 3]", "not an object"),
    (lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "sha256"}), "lacks"),
    (lambda t: b'{"sha256": "\xff\xfe"}', "not UTF-8"),
])
def test_8_damaged_metadata_is_a_model_integrity_error(saved, damage, message):
    meta_file = saved.with_suffix(".json")
    new = damage(meta_file.read_text())
    meta_file.write_bytes(new if isinstance(new, bytes) else new.encode())
    with pytest.raises(ModelIntegrityError, match=message):
        engine().load_model(saved)


# ---- 9. one clear typed error instead of a traceback ---------------------------------------------------------

BAD_FILES = {
    "latin1.csv": ("name,v\nJosé,1\n".encode("latin-1"), "not UTF-8"),
    "binary.csv": (bytes(range(256)) * 8, "binary"),
    "empty.csv": (b"", "empty"),
    "ragged.csv": (b"a,b\n1,2\n3,4,5\n", "not a well-formed CSV"),
    "dir.csv": (None, "is a folder"),
}


def make_bad(tmp_path, name):
    raw, _ = BAD_FILES[name]
    p = tmp_path / name
    if raw is None: p.mkdir()
    else: p.write_bytes(raw)
    return p


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_9_unreadable_files_in_the_cli_are_one_line_and_exit_2(tmp_path, name, capsys):
    from mltrain_nb.cli import main
    p = make_bad(tmp_path, name)
    assert main(["train", str(p), "--target", "v", "--no-progress", "--no-tracking"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and BAD_FILES[name][1] in err, err


@pytest.fixture
def ip(quiet):
    from IPython.testing.globalipapp import get_ipython
    shell = get_ipython()
    shell.run_line_magic("load_ext", "mltrain_nb")
    shell.run_line_magic("config", "MLTrain.progress = False")
    shell.run_line_magic("config", "MLTrain.tracking = False")
    yield shell
    shell.run_line_magic("unload_ext", "mltrain_nb")
    shell.config.pop("MLTrain", None)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_9_unreadable_files_in_the_magics_are_a_plain_usage_error(tmp_path, name, ip):
    p = make_bad(tmp_path, name)
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("train", f"{p} --target v")
    assert type(e.value) is UsageError and "\n" not in str(e.value) and BAD_FILES[name][1] in str(e.value)


def test_9_database_storage_without_its_driver(quiet):
    import importlib.util
    from mltrain_nb.tuning import make_storage
    if importlib.util.find_spec("MySQLdb") is not None: pytest.skip("the MySQL driver is installed here")
    with pytest.raises(ConfigError, match="pip install mysqlclient"):
        make_storage("mysql://user:pw@localhost/optuna")


def test_9_bad_prediction_input(quiet):
    X, y = small()
    eng = engine()
    eng.train_model(X, y, "logistic_regression")
    with pytest.raises(DataError, match="was numeric in training but holds 'x'"):
        eng.predict(X.head(3).assign(a=["x", 1, 2]))
    with pytest.raises(DataError, match="no rows"):
        eng.predict(X.head(0))


@pytest.mark.parametrize("value, kind", [([1, 2], "list"), ({"k": 1}, "dict")])
def test_9_containers_in_a_column(value, kind, quiet):
    X, y = small()
    X["bag"] = [value] * len(X)
    with pytest.raises(DataError, match=f"holds {kind} values"):
        engine().train_model(X, y, "logistic_regression")


@pytest.mark.parametrize("make", [
    lambda: engine(split={"test_size": 0.99}).train_model(*small(), "logistic_regression"),
    lambda: engine(n_jobs=0).train_model(*small(), "random_forest"),
    lambda: engine(model_params={"random_forest": {"n_estimators": -3}}).train_model(*small(), "random_forest"),
    lambda: engine(model_params={"xgboost": {"max_depth": -3}}).train_model(*small(), "xgboost"),
    lambda: engine().train_model(*small(), "random_forest", param_grid={"n_estimators": ["many"]}),
    lambda: engine().train_model(*small(), "random_forest", param_grid={"max_depth": []}),
], ids=["test_size", "n_jobs", "param", "xgb_param", "grid_value", "grid_empty"])
def test_9_bad_options_are_config_errors(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ConfigError):
            make()


# ---- 10. smaller -----------------------------------------------------------------------------------------

def test_10_interrupted_cli_train_exits_130(tmp_path, monkeypatch, quiet):
    import mltrain_nb.engine.training as me   # compare looks up _train_one in its own module
    from mltrain_nb.cli import main
    X, y = small(80)
    X.assign(target=y).to_csv(tmp_path / "d.csv", index=False)
    original = me._train_one
    def then_interrupt(*a, **k):   # a real SIGINT once the first model is done: the engine stops after it
        res = original(*a, **k)
        os.kill(os.getpid(), signal.SIGINT)
        return res
    monkeypatch.setattr(me, "_train_one", then_interrupt)
    code = main(["train", str(tmp_path / "d.csv"), "--target", "target", "--models", "logistic_regression,decision_tree",
                 "--cv", "2", "--no-progress", "--no-tracking"])
    assert code == 130


def test_10_one_row_is_not_a_single_class(quiet):
    X, _ = small()
    with pytest.raises(DataError) as e:
        engine().train_model(X.head(1), pd.Series([5.0]))
    assert "single class" not in str(e.value) and "1 row" in str(e.value)


def test_10_target_can_name_an_integer_column(ip, quiet):
    X, y = small()
    df = X.assign(**{"4": y}).rename(columns={"4": 4})
    ip.user_ns["intcols"] = df
    try:
        ip.run_line_magic("train", "intcols --target 4 --models logistic_regression --cv 2 -o r4")
        assert ip.user_ns["r4"].task == "classification"
    finally:
        ip.user_ns.pop("intcols", None); ip.user_ns.pop("r4", None)


def test_10_datetime_parts_are_scaled():
    from mltrain_nb.data import build_preprocessor
    X = pd.DataFrame({"when": pd.date_range("2001-01-01", periods=50, freq="37D"), "v": np.arange(50.0)})
    out = build_preprocessor(X).fit_transform(X)
    assert np.abs(out).max() < 10   # a raw year (2001..2006) would be ~2000


def test_10_a_very_wide_file_is_refused_from_its_header(tmp_path):
    from mltrain_nb.data import load_table
    n = 200_000
    (tmp_path / "wide.csv").write_text(",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" * n) + "\n")
    with pytest.raises(DataError, match="200,000 columns"):
        load_table(tmp_path / "wide.csv")


def test_10_runs_of_a_killed_process_are_ended_failed(tmp_path, quiet):
    from mltrain_nb.tracking import ExperimentTracker
    p = python(f"""
        import os, signal, warnings; warnings.simplefilter("ignore")
        from mltrain_nb.tracking import ExperimentTracker
        t = ExperimentTracker({str(tmp_path)!r}, "k")
        with t.run("doomed") as rid:
            print(rid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert p.returncode == -signal.SIGKILL
    run = ExperimentTracker(tmp_path, "k").client.get_run(p.stdout.strip())
    assert run.info.status == "FAILED" and "ended without ending the run" in run.data.tags["mltrain.failure"]


# --- issue 31: ship-model ---

IRIS_MODELS = "--models logistic_regression,decision_tree --cv 2 --no-panel"


def _one_line_usage_error(f) -> str:
    with pytest.raises(UsageError) as e: f()
    assert type(e.value) is UsageError and "\n" not in str(e.value), str(e.value)
    return str(e.value)


def test_31_2_the_tuned_model_is_the_best_model_everywhere(tmp_path, iris_df, ip, capsys):
    "After %tune r, r's leaderboard holds the tuned model, and register, predict, explain and save take its first row and say so."
    ip.user_ns["iris"] = iris_df
    X = iris_df.drop(columns="species")
    r = ip.run_line_magic("train", f"iris --target species {IRIS_MODELS} -o r")
    ip.run_line_magic("tune", "r --trials 3 --no-panel")
    tuned = f"{r.results[r.best_model_name].algorithm}_tuned" if r.best_model_name.endswith("_tuned") else None
    assert any(n.endswith("_tuned") for n in r.leaderboard.index), list(r.leaderboard.index)
    best = r.leaderboard.index[0]
    assert r.best_model_name == best and (tuned is None or tuned == best)
    said = capsys.readouterr().out
    assert f"best model is now {best}" in said
    assert list(ip.run_line_magic("mltrain", "leaderboard r").index) == list(r.leaderboard.index)
    # register, predict, explain and save: the same model, each saying which
    ip.run_line_magic("config", f"MLTrain.output_dir = {str(tmp_path / 'exp')!r}")
    e = ip.run_line_magic("mltrain", "register r --name iris")
    assert e["trained_as"] == best and repr(e).count("\n") == 0 and best in repr(e)
    assert (r.predict(X) == r.engine.predict(X, best)).all()
    assert Path(r.save(tmp_path / "saved")).parent.parent.name == best
    r.explain(method="permutation", max_rows=50)
    out = capsys.readouterr().out
    for action in ("predicting with", "saving", "explaining"):
        assert f"{action} {best} (the best model of this result" in out, out
    # a model the result does not lead with is taken when named, silently
    other = next(n for n in r.results if n != best)
    assert (r.predict(X, model=other) == r.engine.predict(X, other)).all() and capsys.readouterr().out == ""


def test_31_6_7_train_register_serve_from_the_shell(tmp_path, iris_df, capsys, quiet):
    "mltrain train -> mltrain register RUN -> mltrain serve NAME, no Python; Ctrl-C (SIGINT) stops the scoring server too."
    from mltrain_nb.cli import main
    from test_registry import serve_and_stop
    iris_df.to_csv(tmp_path / "iris.csv", index=False)   # the tests run in tmp_path: ./experiments is the default store
    assert main(["train", "iris.csv", "--target", "species", "--models", "logistic_regression,decision_tree",
                 "--cv", "2", "--no-progress", "--save", "saved"]) == 0
    hint = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("ship the best"))
    best = hint.split("(")[1].split(")")[0]
    run_id = hint.split("mltrain register ")[1].split()[0]
    assert main(["register", run_id, "--name", "iris", "--promote"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"registered iris/1 (version 1.0.0, Production, from {best})",
                                                    "serve it: mltrain serve iris"]
    # the folder --save wrote registers too (checked by its hash before it is unpickled)
    assert main(["register", "saved", "--name", "iris"]) == 0
    assert capsys.readouterr().out.startswith(f"registered iris/2 (version 2.0.0, Training, from {best})")
    assert main(["register", "0" * 32, "--name", "iris"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mltrain: error: No MLflow run") and err.count("\n") == 1
    code, out = serve_and_stop("iris", f"sqlite:///{tmp_path / 'experiments' / 'mlflow.db'}", signal.SIGINT, cwd=tmp_path)
    assert code == 128 + signal.SIGINT, out


def test_31_5_8_one_line_entries_and_suggested_names_and_options(tmp_path, iris_df, ip, capsys):
    "%mltrain register/demote show one line; unknown registered names, --folds and unknown CLI options get a did-you-mean."
    from IPython.core.formatters import PlainTextFormatter
    from mltrain_nb.cli import main
    ip.user_ns.update(iris=iris_df, X=iris_df.drop(columns="species"))
    ip.run_line_magic("config", f"MLTrain.output_dir = {str(tmp_path / 'exp')!r}")
    ip.run_line_magic("config", "MLTrain.tracking = True")
    empty = _one_line_usage_error(lambda: ip.run_line_magic("mltrain", "predict iris X"))
    assert "the registry is empty" in empty and "Valid: ." not in empty
    r = ip.run_line_magic("train", f"iris --target species {IRIS_MODELS} -o r")
    e = ip.run_line_magic("mltrain", "register r --name iris --promote")
    assert PlainTextFormatter()(e) == f"registered iris/1 (version 1.0.0, Production, from {r.best_model_name})"
    assert e["model_id"] and len(e) > 10       # every field is still there
    ip.run_line_magic("mltrain", "register r --name iris")
    moved = PlainTextFormatter()(ip.run_line_magic("mltrain", "promote iris 2"))
    assert moved == "promoted iris/2 (version 2.0.0): now Production"
    for line in ("predict irsi X", "predict irsi@production X", "predict irsi/1 X", "rollback irsi", "models --name irsi"):
        msg = _one_line_usage_error(lambda: ip.run_line_magic("mltrain", line))
        assert "Did you mean 'iris'?" in msg, (line, msg)
    assert "Did you mean '--cv'?" in _one_line_usage_error(lambda: ip.run_line_magic("train", "iris --target species --folds 3"))
    uri = f"sqlite:///{tmp_path / 'exp' / 'mlflow.db'}"
    capsys.readouterr()
    assert main(["serve", "irsi", "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'iris'?" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as e: main(["train", "x.csv", "--folds", "3"])
    assert e.value.code == 2 and "Unknown option '--folds'. Did you mean '--cv'?" in capsys.readouterr().err
    with pytest.raises(SystemExit): main(["register", "abc", "--nmae", "x"])
    assert "Did you mean '--name'?" in capsys.readouterr().err


def test_31_11_a_second_model_of_one_algorithm_is_kept_beside_the_first(tmp_path, quiet):
    X, y = small()
    eng = engine()
    first = eng.train_model(X, y, "logistic_regression")
    with pytest.warns(UserWarning, match="kept beside it as 'logistic_regression_2'"):
        second = eng.train_model(X, y, "logistic_regression")
    assert second.name == "logistic_regression_2" and eng.models["logistic_regression"] is first
    with pytest.warns(UserWarning, match=r"versioned folder.*my_model/v<N>/model.joblib"):
        path = Path(eng.save_model("logistic_regression", tmp_path / "models" / "my_model.pkl"))
    assert path == tmp_path / "models" / "my_model" / "v1" / "model.joblib"
    assert engine().load_model(tmp_path / "models" / "my_model.pkl").name == "logistic_regression"


def test_31_12_names_are_refused_before_anything_is_written(tmp_path, quiet):
    from mltrain_nb.fileio import check_name
    for bad in ["abc\n", "abc ", " abc", "a..b", "a\tb", "x" * 300]:
        with pytest.raises(ConfigError) as e: check_name(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        MLTrainingEngine(tracking={"experiment": "x" * 600})
    assert "\n" not in str(e.value) and "500" in str(e.value) and len(str(e.value)) < 300


def test_31_13_a_signed_model_is_bound_to_its_name_and_version(tmp_path, monkeypatch, quiet):
    import hashlib
    import shutil
    monkeypatch.setenv("MLTRAIN_SIGNING_KEY", "s3cret")
    X, y = small()
    eng = engine()
    eng.train_model(X, y, "random_forest")
    eng.train_model(X, y, "logistic_regression")
    rf = Path(eng.save_model("random_forest", tmp_path))
    lr = Path(eng.save_model("logistic_regression", tmp_path))
    engine().load_model(tmp_path / "logistic_regression")
    for f in ("model.joblib", "model.json"): shutil.copy(rf.parent / f, lr.parent / f)   # a valid signed model, elsewhere
    with pytest.raises(ModelIntegrityError, match="signed as random_forest/v1"):
        engine().load_model(tmp_path / "logistic_regression")
    v2 = Path(eng.save_model("random_forest", tmp_path)).parent
    shutil.copy(rf, v2 / "model.joblib"); shutil.copy(rf.with_suffix(".json"), v2 / "model.json")   # an old version as the new
    with pytest.raises(ModelIntegrityError, match="signed as random_forest/v1 but lies in random_forest/v2"):
        engine().load_model(tmp_path / "random_forest")
    monkeypatch.delenv("MLTRAIN_SIGNING_KEY")
    path = Path(eng.save_model("random_forest", tmp_path / "plain"))
    path.write_bytes(b"")                                  # emptied, and its hash updated to match
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["sha256"] = hashlib.sha256(b"").hexdigest()
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelIntegrityError, match="empty"):
        engine().load_model(path)


def test_31_16_an_untracked_model_registers_with_a_signature(tmp_path, quiet):
    from mltrain_nb.errors import InputSchemaError
    from mltrain_nb.inference import InferenceEngine, ModelLoader
    X, y = small()
    eng = MLTrainingEngine(cv=3, progress=False, tracking={"enabled": False, "output_dir": str(tmp_path / "exp")})
    eng.train_model(X, y, "logistic_regression")
    e = eng.register(name="small")
    assert [c["name"] for c in e["signature"]] == ["a", "b"]
    model = ModelLoader(f"sqlite:///{tmp_path / 'exp' / 'mlflow.db'}").load_from_registry("small", version=1)
    with pytest.raises(InputSchemaError):
        InferenceEngine(model).predict(pd.DataFrame({"a": [1.0], "c": [2.0]}))


# property tests of the name checks: every name is either refused with one line or safe as one folder
from hypothesis import HealthCheck, given, settings, strategies as st   # noqa: E402

_NAMES = st.one_of(st.text(max_size=140), st.text(st.characters(codec="ascii"), max_size=12),
                   st.sampled_from(["a..b", "abc\n", " x", "x ", ".x", "con", "a/b", "ok", "model v2.1", "x" * 129]))
_PROPS = settings(max_examples=150, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _is_safe(name: str) -> bool:
    return (0 < len(name) <= 128 and name.isprintable() and name == name.strip() and ".." not in name
            and not name.startswith(".") and "/" not in name and "\\" not in name)


@_PROPS
@given(name=_NAMES)
def test_31_19_check_name_accepts_only_safe_names(tmp_path, name):
    from mltrain_nb.fileio import check_name
    try: ok = check_name(name) == name
    except ConfigError as e:
        assert "\n" not in str(e) and len(str(e)) < 400
        return
    assert ok and _is_safe(name), repr(name)
    (tmp_path / name).mkdir(exist_ok=True)
    assert [p.name for p in tmp_path.iterdir() if p.name == name] == [name]


@_PROPS
@given(name=_NAMES)
def test_31_19_registered_names_are_checked_before_mlflow(name):
    from mltrain_nb.errors import RegistryError
    from mltrain_nb.registry.deployment import _check_registration
    try: _check_registration(object.__new__(type("M", (), {"predict": lambda self, X: X})), None, name, None)
    except RegistryError as e:
        assert "\n" not in str(e)
        return
    assert _is_safe(name) and name.isascii() and name[0].isalnum(), repr(name)


@settings(max_examples=40, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_NAMES)
def test_31_19_save_model_writes_inside_its_folder_or_refuses(tmp_path, fitted_for_names, name):
    import dataclasses
    eng, res = fitted_for_names
    eng.models[name] = dataclasses.replace(res, name=name)
    before = sorted(tmp_path.rglob("*"))
    try:
        try: path = Path(eng.save_model(name, tmp_path / "out"))
        except ConfigError as e:
            assert "\n" not in str(e) and sorted(tmp_path.rglob("*")) == before   # nothing written
            return
        assert _is_safe(name) and path.parent.parent == tmp_path / "out" / name, (repr(name), path)
    finally:
        eng.models.pop(name, None)


@settings(max_examples=60, deadline=None, print_blob=True)
@given(name=st.one_of(st.none(), st.text(max_size=12), st.text(min_size=495, max_size=510)))
def test_31_19_experiment_names(name):
    from mltrain_nb.config import TrackingSpec
    try: TrackingSpec(experiment=name)
    except ConfigError as e:
        assert name is not None and not (name.strip() and name.isprintable() and len(name) <= 500) and "\n" not in str(e)
        return
    assert name is None or (name.strip() and name.isprintable() and len(name) <= 500)


@pytest.fixture(scope="module")
def fitted_for_names():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eng = engine()
        return eng, eng.train_model(*small(), "decision_tree")
