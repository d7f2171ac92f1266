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


# --- issue 31: inputs-config ---

BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 8))


def test_31_14_alias_bomb_in_config_body_and_file(tmp_path, ip):
    "A YAML alias bomb is refused at once by `config.load_yaml`, wherever the YAML comes from."
    from mltrain_nb.automation import pipeline_config
    from mltrain_nb.config import TrainConfig, as_config
    for make in (lambda: TrainConfig.from_yaml(BOMB), lambda: as_config(BOMB)):
        with pytest.raises(ConfigError, match="more than 10,000 values"): make()
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    with pytest.raises(ConfigError, match="more than 10,000 values"):
        pipeline_config(str(p))
    ip.user_ns["df31"] = pd.DataFrame({"a": range(20), "y": [0, 1] * 10})
    for magic, line in (("train", "df31 --target y"), ("tune", "random_forest --data df31 --target y")):
        with pytest.raises(UsageError) as e: ip.run_cell_magic(magic, line, BOMB)
        assert type(e.value) is UsageError and "more than 10,000 values" in str(e.value)


def test_31_9_stage_labels_atomic_metrics_and_model_save_path(tmp_path, quiet):
    "Spec 000's `step` as a stage label, all-or-nothing metric writes, and `log_model(path=...)`."
    import mlflow.pyfunc
    from sklearn.linear_model import LogisticRegression
    from mltrain_nb.compat import ExperimentTracker
    X, y = small()
    t = ExperimentTracker(str(tmp_path / "exp"), "stages")
    t.start_experiment({"C": 1.0}, {"algorithm": "logistic_regression"})
    t.log_metrics({"accuracy": 0.9}, step="validation")
    with pytest.raises(ConfigError, match="'auc' must be a number"):
        t.log_metrics({"f1": 0.5, "auc": "high"})
    t.log_metrics({"accuracy": 0.8}, step="test")
    model = LogisticRegression().fit(X, y)
    t.log_model(model, "lr", path=str(tmp_path / "models" / "x"))
    record = t.end_experiment()
    run = t.client.get_run(record["record_path"].rsplit("experiment_", 1)[1][:-5])
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"validation/accuracy": 0.9, "test/accuracy": 0.8}
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "models" / "x"))
    assert list(loaded.predict(X.head(4))) == list(model.predict(X.head(4)))


@pytest.mark.parametrize("make, error, says", [
    (lambda: engine(model_params={"xgb": {"max_depth": 2}}).train_model(*small(), "xgboost"),
     ConfigError, "Did you mean 'xgboost'?"),
    (lambda: engine(model_params={"random_forrest": {}}).compare(*small(), ["random_forest"]),
     ConfigError, "Did you mean 'random_forest'?"),
    (lambda: engine(early_stopping=True).train_model(*small(), "random_forest"),
     ConfigError, "random_forest trains in one go"),
    (lambda: engine(early_stopping=True).compare(*small(), ["logistic_regression", "random_forest"]),
     ConfigError, "Early stopping cannot apply"),
], ids=["xgb", "random_forrest", "es_rf", "es_lr_rf"])
def test_31_10_settings_that_would_not_apply_are_errors(make, error, says, quiet):
    with pytest.raises(error, match=says): make()


def test_31_10_unused_settings_warn_and_k_none_keeps_half():
    X, y = small()
    X = X.assign(**{f"n{i}": np.random.default_rng(i).normal(size=len(X)) for i in range(4)})
    with pytest.warns(UserWarning, match="model_params for 'svm' are not applied"):
        engine(model_params={"svm": {"C": 2.0}}).train_model(X, y, "logistic_regression")
    res = engine(feature_selection={"method": "statistical"}).train_model(X, y, "logistic_regression")
    assert res.model.named_steps["select"].get_support().sum() == 3   # half of 6 columns


def test_31_10_ab_metric_outcomes_and_chunk_size(tmp_path, quiet):
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from mltrain_nb.errors import ABTestError
    from mltrain_nb.inference import InferenceEngine
    from mltrain_nb.registry import ModelDeployment
    X, y = small()
    dep = ModelDeployment(str(tmp_path / "models"), tracking_uri=f"sqlite:///{tmp_path}/m.db")
    a = dep.save_model(LogisticRegression().fit(X, y), "clf", feature_names=["a", "b"])
    b = dep.save_model(LogisticRegression(C=0.1).fit(X, y), "clf", feature_names=["a", "b"])
    with pytest.raises(ABTestError, match="compares accuracy"):
        dep.setup_ab_test(a, b, "t", 0.5, metric="rmse")
    r1 = dep.save_model(LinearRegression().fit(X, X.a), "reg", task_type="regression", feature_names=["a", "b"])
    r2 = dep.save_model(LinearRegression().fit(X, X.b), "reg", task_type="regression", feature_names=["a", "b"])
    dep.setup_ab_test(r1, r2, "r", 0.5)
    dep.predict_ab_test("r", X.head(1), user_id="u")
    with pytest.raises(ABTestError, match="finite number"): dep.record_outcome("r", "u", "abc")
    assert "Not enough data yet" in dep.ab_test_results("r", min_samples=0)["message"]
    ie = InferenceEngine(LogisticRegression().fit(X, y))
    for bad in (0, "abc", 2.5):
        with pytest.raises(ConfigError, match="chunk_size"): ie.predict_batch(X, chunk_size=bad)


def test_31_10_pipeline_n_jobs_0_is_one_line(tmp_path, capsys):
    from mltrain_nb.cli import main
    X, y = small()
    X.assign(t=y).to_csv(tmp_path / "d.csv", index=False)
    code = main(["pipeline", "--data", str(tmp_path / "d.csv"), "--target", "t", "--n-jobs", "0",
                 "--output", str(tmp_path / "reports")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "0 cores" in err, err


BAD_ROWS = {
    "inf": ({"a": float("inf"), "b": 0.0}, "infinite"),
    "list": ({"a": [1, 2], "b": 0.0}, "holds a list value"),
    "dict": ({"a": {"k": 1}, "b": 0.0}, "holds a dict value"),
    "text": ({"a": "abc", "b": 0.0}, "must be numeric"),
}


@pytest.mark.parametrize("name", sorted(BAD_ROWS))
def test_31_15_bad_prediction_values_are_input_schema_errors(name, quiet):
    from mltrain_nb.errors import InputSchemaError
    from mltrain_nb.inference import InferenceEngine
    X, y = small()
    eng = engine()
    eng.train_model(X, y, "logistic_regression")
    ie = InferenceEngine(eng.models["logistic_regression"].model)
    row, says = BAD_ROWS[name]
    for call in (lambda: ie.predict_single(row), lambda: ie.predict(pd.DataFrame([row] * 2))):
        with pytest.raises(InputSchemaError, match=says) as e: call()
        assert e.value.column == "a" and "\n" not in str(e.value)


def test_31_15_batches_and_training_inputs_are_typed_errors(quiet):
    from mltrain_nb.inference import InferenceEngine
    X, y = small()
    eng = engine()
    eng.train_model(X, y, "logistic_regression")
    ie = InferenceEngine(eng.models["logistic_regression"].model)
    with pytest.raises(DataError, match="no rows"): ie.predict_batch(X.head(0))
    with pytest.raises(DataError, match="3 dimensions"): ie.predict_batch(np.zeros((2, 3, 3)))
    with pytest.raises(DataError, match="complex numbers") as e:
        engine().train_model(X.assign(z=X.a + 1j), y, "logistic_regression")
    assert "\n" not in str(e.value) and len(str(e.value)) < 200   # no rows of the data
    with pytest.raises(DataError, match="mixes value types"):
        engine().train_model(X, pd.Series([1, "one"] * 30), "logistic_regression")
    with pytest.raises(DataError, match="at least two groups"):
        engine(split={"strategy": "group", "group_column": "g"}).train_model(X.assign(g=1), y, "logistic_regression")
    with pytest.raises(ConfigError, match="random_state"):
        engine(random_state=-1).train_model(X, y, "random_forest")


@pytest.mark.parametrize("body, says", [
    ("cross_validation: {scoring: 5}", "cross_validation.scoring must be"),
    ("tuning: x", "'tuning'"),
    ("split: [1, 2]", "'split'"),
    ("1: 2", "Config keys are names"),
    ("random_state: -1", "random_state"),
    ("model_params: {xgb: {max_depth: 2}}", "Did you mean 'xgboost'"),
])
def test_31_15_wrong_config_values_in_train_bodies_are_plain_usage_errors(body, says, ip):
    ip.user_ns["df31"] = pd.DataFrame({"a": np.arange(30.0), "y": [0, 1] * 15})
    with pytest.raises(UsageError) as e:
        ip.run_cell_magic("train", "df31 --target y --models xgboost --cv 2", body)
    assert type(e.value) is UsageError and says in str(e.value) and "\n" not in str(e.value)


# --- issue 31: rest-server ---
# Item 18 (the REST server, whichever way it is started) and item 8's newline; the Schemathesis run of item 19 is
# tests/test_server.py::test_api_follows_its_openapi_document.

@pytest.fixture(scope="module")
def rest(tmp_path_factory):
    "The app in process on a fresh store, with two versions of a model registered the Python way (no job needed)."
    from fastapi.testclient import TestClient
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from mltrain_nb.server.app import create_app
    from mltrain_nb.server.db import ServerSettings
    home = tmp_path_factory.mktemp("rest")
    app = create_app(ServerSettings(output_dir=str(home / "experiments"), workers=1, max_upload_mb=0.5))
    X, y = load_iris(return_X_y=True, as_frame=True)
    with TestClient(app, raise_server_exceptions=False) as c:
        dep = app.state.platform.registry
        ids = [dep.save_model(make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500)).fit(X, y), "iris",
                              task_type="classification", algorithm="logistic_regression", input_example=X.head(3))
               for C in (1.0, 0.1)]
        c.ids, c.row, c.home = ids, X.iloc[0].to_dict(), home
        yield c


def test_31_rest_replies_end_with_a_newline_and_never_name_a_server_path(rest, monkeypatch):
    r = rest.post("/api/ml/datasets/upload", files={"file": ("/tmp/secret/dir/iris.csv", b"a,b\n1,2\n3,4\n")})
    assert r.status_code == 200 and r.text.endswith("}\n") and r.json()["name"] == "iris.csv", r.text
    for reply in (rest.get("/api/ml/datasets"), rest.get("/api/ml/jobs/x"), rest.get("/api/ml/models/train/nope")):
        assert reply.text.endswith("\n"), reply.text
    from mltrain_nb.server.platform import Platform
    home = str(rest.home)
    def broken(self, dataset_id): raise OSError(36, "File name too long", f"{home}/experiments/models/{'x' * 300}")
    monkeypatch.setattr(Platform, "dataset", broken)
    r = rest.get("/api/ml/datasets/d1")
    assert r.status_code == 500 and "OSError" in r.json()["detail"], r.text
    assert home not in r.text and "/experiments/" not in r.text and "Traceback" not in r.text, r.text


def test_31_rest_bad_names_bodies_and_sizes_are_4xx_that_say_why(rest):
    m1 = rest.ids[0]
    cases = [
        (rest.post("/api/ml/models/deploy", json={"training_job_id": "j", "model_name": "evil\n"}), 422, "control character"),
        (rest.post("/api/ml/models/deploy", json={"training_job_id": "j", "model_name": "m" * 300}), 422, "at most 128"),
        (rest.post("/api/ml/models/deploy", json={"training_job_id": "j", "model_name": "a/b"}), 422, "file name"),
        (rest.post("/api/ml/datasets/upload", files={"file": ("x.csv", b"a,b\n1,2\n")}, data={"name": "evil\n"}), 422,
         "control character"),
        (rest.post("/api/ml/models/ab-test", json={"model_a_id": m1, "model_b_id": rest.ids[1], "test_name": "t\r"}), 422,
         "control character"),
        (rest.post("/api/ml/models/ab-test", content=b'{"model_a_id": "a", "model_b_id": "b", "test_name": "t", '
                                                     b'"split_ratio": NaN}', headers={"content-type": "application/json"}),
         422, "finite number"),
        (rest.post("/api/ml/data/clean", content=b'{"dataset_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                   headers={"content-type": "application/json"}), 422, "nested too deeply"),
        (rest.post("/api/ml/datasets/upload", content=(b"a,b\n1,2\n" * 1000 for _ in range(100)),
                   headers={"content-type": "multipart/form-data; boundary=x"}), 413, "MLTRAIN_MAX_UPLOAD_MB"),
        (rest.post("/api/ml/models/ab-test/nope/end", json={"winner": "A"}), 404, "No A/B test 'nope'"),
        (rest.put("/api/ml/models/train/j1"), 405, "Method Not Allowed"),
    ]
    for r, code, text in cases:
        assert r.status_code == code and text in r.text and r.text.endswith("\n"), (r.request.url, r.status_code, r.text)
    assert rest.put("/api/ml/models/train/j1").headers["allow"] == "GET, DELETE"


def test_31_rest_yaml_bodies_are_read_by_config_load_yaml(rest):
    import time
    ds = rest.post("/api/ml/datasets/upload", files={"file": ("t.csv", b"a,b\n1,\n3,4\n5,6\n")}).json()["dataset_id"]
    r = rest.post("/api/ml/data/clean", content=f"dataset_id: {ds}\nmissing_strategy: median\noutlier_method: none\n",
                  headers={"content-type": "application/yaml"})
    assert r.status_code == 200 and r.json()["missing_values"] == {"a": 0, "b": 0}, r.text
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n" for p, k in zip("abcdef", "bcdefg"))
    t0 = time.perf_counter()
    r = rest.post("/api/ml/data/clean", content=bomb, headers={"content-type": "application/x-yaml"})
    assert r.status_code == 422 and "aliases" in r.json()["detail"], r.text
    print(f"alias bomb of {len(bomb)} bytes refused in {time.perf_counter() - t0:.2f} s")


def test_31_rest_predict_row_missing_a_feature_is_a_422_naming_it(rest):
    m1, row = rest.ids[0], rest.row
    short = {k: v for k, v in row.items() if k != "petal width (cm)"}
    r = rest.post("/api/ml/models/predict", json={"model_id": m1, "features": [row, short]})
    assert r.status_code == 422 and "Row 2 of 2" in r.text and "petal width (cm)" in r.text, r.text
    r = rest.post("/api/ml/models/predict", json={"model_id": m1, "features": {**row, "sepal length (cm)": [1, 2]}})
    assert r.status_code == 422 and "sepal length (cm)" in r.text, r.text
    r = rest.post("/api/ml/models/predict", json={"model_id": m1, "features": [row, row]})
    assert r.status_code == 200 and len(r.json()["prediction"]) == 2, r.text


def test_31_rest_does_what_python_and_the_magics_do_to_a_shipped_model(rest):
    m1, m2 = rest.ids
    assert rest.post(f"/api/ml/models/{m1}/promote").json()["model_id"] == m1
    r = rest.post(f"/api/ml/models/{m1}/demote").json()
    assert (r["message"], r["model_status"]) == ("Model demoted", "staged"), r
    assert rest.get("/api/ml/models/deployed", params={"status": "production"}).json()["models"] == []
    r = rest.post(f"/api/ml/models/{m2}/archive").json()
    assert (r["message"], r["model_status"]) == ("Model archived", "archived"), r
    assert rest.post("/api/ml/models/ab-test", json={"model_a_id": m1, "model_b_id": m2, "test_name": "ab"}).status_code == 200
    assert [t["name"] for t in rest.get("/api/ml/models/ab-test").json()["tests"]] == ["ab"]
    r = rest.post("/api/ml/models/ab-test/ab/end", json={"winner": "B"})
    assert r.status_code == 200 and r.json()["results"]["status"] == "ended", r.text
    prod = rest.get("/api/ml/models/deployed", params={"status": "production"}).json()["models"]
    assert [m["model_id"] for m in prod] == [m2]
    assert rest.post("/api/ml/models/ab-test/ab/end").status_code == 422        # already ended: says so


def test_31_rest_app_refuses_other_machines_without_a_token_under_plain_uvicorn(tmp_path):
    import socket
    import time
    import httpx
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1)); own = s.getsockname()[0]     # this machine's address on its network
        except OSError: own = None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLTRAIN_OUTPUT_DIR": str(tmp_path / "experiments"), "MLTRAIN_API_TOKEN": "",
           "MLTRAIN_MAX_UPLOAD_MB": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "mltrain_nb.server.app:app", "--host", "0.0.0.0",
                             "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60
        while True:
            try:
                local = httpx.get(f"http://127.0.0.1:{port}/api/ml/datasets", timeout=10); break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < end, "uvicorn did not start"
                time.sleep(0.2)
        assert local.status_code == 200 and local.text == "[]\n", local.text
        def chunks():      # no Content-Length: the limit is enforced while the body streams in
            yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\na,b\n'
            for _ in range(200): yield b"1,2\n" * 2000
            yield b"\r\n--x--\r\n"
        r = httpx.post(f"http://127.0.0.1:{port}/api/ml/datasets/upload", content=chunks(), timeout=60,
                       headers={"content-type": "multipart/form-data; boundary=x"})
        assert r.status_code == 413 and "MLTRAIN_MAX_UPLOAD_MB" in r.text, r.text
        if own and not own.startswith("127."):
            r = httpx.get(f"http://{own}:{port}/api/ml/datasets", timeout=10)
            assert r.status_code == 403 and "MLTRAIN_API_TOKEN" in r.json()["detail"], r.text
        else:
            print("no address other than loopback on this machine: only the in-process rule was checked")
    finally:
        proc.terminate(); proc.wait(30)
    from mltrain_nb.server.guard import _local
    assert not _local({"server": ("127.0.0.1", port), "client": ("203.0.113.7", 1)})   # behind a local proxy
    assert not _local({"server": ("10.0.0.5", port), "client": ("10.0.0.9", 1)}) and _local({"server": ("::1", 1), "client": ("::1", 2)})


def test_31_mltrain_server_bad_port_and_host_are_one_line(monkeypatch, tmp_path):
    import socket
    from mltrain_nb.server.guard import check_bind
    for args in (["--port", "99999"], ["--host", "127.attacker.example"]):
        p = subprocess.run([sys.executable, "-c", "import sys; from mltrain_nb.cli import main; sys.exit(main())", "server",
                            *args], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "MLTRAIN_API_TOKEN": ""})
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and p.stderr.startswith("mltrain: error:"), (args, p.stderr)
    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.7", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: public)   # a name that begins with 127. but is not
    with pytest.raises(ConfigError, match="203.0.113.7"):
        check_bind("127.attacker.example", None)
    check_bind("127.attacker.example", "a-token")
def test_31_16_ctrl_c_of_a_parallel_pipeline_ends_every_run(tmp_path):
    "Ctrl-C from a terminal (SIGINT to the whole process group) of `mltrain pipeline --n-jobs 2`."
    import time
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-c", "from mltrain_nb.cli import entry; entry()", "pipeline",
                             "--quick_run", "--models", "logistic_regression", "decision_tree", "lightgbm",
                             "--splits", "stratified", "temporal", "--n-jobs", "2", "--cv", "5"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = tmp_path / "reports" / "experiment_results"
    deadline = time.time() + 240
    while time.time() < deadline and not list(results.glob("*.json")) and proc.poll() is None: time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    con = sqlite3.connect(tmp_path / "experiments" / "mlflow.db")   # read as left: opening a tracker repairs
    runs = con.execute("SELECT name, status FROM runs").fetchall()
    con.close()
    assert runs and "RUNNING" not in {status for _, status in runs}, runs


def test_31_17_skip_training_rebuilds_the_matrix_written_and_features_by_input_column(tmp_path, quiet):
    from mltrain_nb.automation import run_experiments
    kw = dict(quick_run=True, models=["logistic_regression", "decision_tree"], splits=["stratified"],
              n_jobs=1, output=str(tmp_path / "r"), tracking_uri=f"sqlite:///{tmp_path}/m.db")
    run_experiments(**{**kw, "models": ["random_forest", "decision_tree"]})   # an older matrix
    res = run_experiments(**kw)   # decision_tree's cell resumed, random_forest's not in this matrix
    matrix = tmp_path / "r" / "experiment_results" / "matrix.csv"
    written = matrix.read_text()
    matrix.unlink()
    rebuilt = run_experiments(skip_training=True, output=kw["output"], tracking_uri=kw["tracking_uri"])
    assert matrix.read_text() == written
    pd.testing.assert_frame_equal(rebuilt.matrix, res.matrix)
    feat = pd.read_csv(tmp_path / "r" / "feature_data" / "logistic_regression__stratified.csv", index_col="feature")
    used = feat.dropna(subset=["importance"])
    assert len(used) and used["selection_score"].notna().all() and used.index.is_unique
    assert not any(n.startswith(("num__", "cat__")) for n in feat.index)


def test_31_15_pipeline_on_a_broken_xlsx_is_one_line(tmp_path, capsys):
    from mltrain_nb.cli import main
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    assert main(["pipeline", "--data", str(tmp_path / "bad.xlsx"), "--target", "y",
                 "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Cannot read 'bad.xlsx' as an Excel workbook" in err, err


def test_31_16_a_matrix_where_no_cell_finished_still_reports(tmp_path, quiet):
    "What Ctrl-C before the first good cell leaves (or every cell failing): the failures reported, no error."
    from mltrain_nb.automation import run_experiments
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=40), "g": np.repeat(["p", "q"], 20), "y": np.tile([0, 1], 20)})
    res = run_experiments(df, target="y", group_column="g", models=["decision_tree"], splits=["group"], cv=3,
                          n_jobs=1, output=str(tmp_path / "r"), tracking_uri=f"sqlite:///{tmp_path}/m.db")
    assert list(res.failed) == ["decision_tree__group"]
    assert "Cell decision_tree\\_\\_group failed" in res.reports["markdown"].read_text()
# --- issue 31: first-hour ---

@pytest.fixture
def shell31(iris_df, quiet):
    "A real IPython shell with the extension loaded, untracked and without progress output; `iris` in its namespace."
    from IPython.testing.globalipapp import get_ipython
    shell = get_ipython()
    shell.run_line_magic("load_ext", "mltrain_nb")
    shell.run_line_magic("config", "MLTrain.progress = False")
    shell.run_line_magic("config", "MLTrain.tracking = False")
    shell.user_ns["iris"] = iris_df
    yield shell
    shell.run_line_magic("unload_ext", "mltrain_nb")
    shell.config.pop("MLTrain", None)
    for k in ("iris", "r", "t"): shell.user_ns.pop(k, None)


def test_31_1_a_comment_after_a_magic_is_a_comment(shell31):
    "Item 1: `%tune r --trials 3  # ...` stopped with 'unrecognized arguments'."
    r = shell31.run_line_magic("train", "iris --target species --models logistic_regression --cv 2 -o r  # a comment")
    assert type(r).__name__ == "TrainResult" and shell31.user_ns["r"] is r
    t = shell31.run_line_magic("tune", "r --trials 2 --no-panel -o t   # tunes r's best algorithm")
    assert type(t).__name__ == "TuneResult" and len(t.trials) == 2
    board = shell31.run_line_magic("mltrain", "leaderboard r   # ranked")
    assert "logistic_regression" in board.index
    r2 = shell31.run_cell_magic("train", "iris --target species --models decision_tree --cv 2  # first line",
                                "split: {test_size: 0.25}\n")
    assert list(r2.results) == ["decision_tree"]
    with pytest.raises(UsageError, match="check the quotes"):   # a # inside quotes is kept: the quote stays open
        shell31.run_line_magic("train", "iris --target 'species # x")


def test_31_3_hints_name_the_option_of_the_face(shell31, tmp_path, iris_df, capsys):
    "Item 3: `%mltrain rollback` on a name with one production version said `give to_version=`."
    shell31.run_line_magic("config", "MLTrain.tracking = True")
    shell31.run_line_magic("config", f"MLTrain.output_dir = {str(tmp_path / 'store')!r}")
    shell31.run_line_magic("train", "iris --target species --models logistic_regression --cv 2 -o r")
    shell31.run_line_magic("mltrain", "register r --name flowers --promote")
    with pytest.raises(UsageError) as e: shell31.run_line_magic("mltrain", "rollback flowers")
    assert type(e.value) is UsageError and "--to" in str(e.value) and "to_version" not in str(e.value)
    from mltrain_nb.cli import main    # the command's hints are its options too
    iris_df.to_csv(tmp_path / "iris.csv", index=False)
    capsys.readouterr()
    assert main(["train", str(tmp_path / "iris.csv"), "--target", "species", "--models", "logistic_regression",
                 "--test-size", "0.01", "--no-tracking", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "(e.g. --test-size 0.2)" in err and "test_size=" not in err, err


DEV_ONLY = ["pytest", "nbdev", "ipykernel", "nbclient", "nbformat", "dask", "distributed", "jupyterlab",
            "playwright", "ruff", "hypothesis", "schemathesis"]


def test_31_4_the_main_job_magics_and_panels_need_no_dev_package(tmp_path):
    """Item 4: `pip install -e .` must be enough. With every dev-only package made unimportable, the CLI, a training
    with tuning, the magics in an IPython shell and the panels all run."""
    p = python(f"""
        import sys
        BLOCKED = {DEV_ONLY!r}
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED: raise ImportError(f"dev-only package imported: {{name}}")
        sys.meta_path.insert(0, Block())
        import warnings; warnings.simplefilter("ignore")
        from sklearn.datasets import load_iris
        import mltrain_nb.cli
        from mltrain_nb.engine import MLTrainingEngine
        df = load_iris(as_frame=True).frame
        e = MLTrainingEngine(cv=2, tracking={{"enabled": False}})
        e.compare(df, "target", models=["logistic_regression"]); e.tune(df, "target", "logistic_regression", n_trials=2)
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance(); ip.user_ns["df"] = df
        ip.run_line_magic("load_ext", "mltrain_nb")
        ip.run_line_magic("config", "MLTrain.tracking = False")
        r = ip.run_line_magic("train", "df --target target --models decision_tree --cv 2")
        from mltrain_nb.panels import TrainingPanel, ResultsPanel
        TrainingPanel(); ResultsPanel(r)
        print("ALL-RAN", [m for m in BLOCKED if m in sys.modules])
    """, cwd=tmp_path, timeout=300)
    assert "ALL-RAN []" in p.stdout, p.stdout[-2000:] + p.stderr[-3000:]


def test_31_4_every_import_of_the_package_is_a_requirement():
    """Item 4: each third-party module the package imports (inside functions too) comes from settings.ini's
    requirements or what they install, except `distributed`, which only `dask_address` uses."""
    import ast
    import configparser
    import importlib.metadata as md
    import re
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
    cfg = configparser.ConfigParser(); cfg.read(ROOT / "settings.ini")
    todo = [norm(re.split(r"[<>=\[ ;]", r)[0]) for r in cfg["DEFAULT"]["requirements"].split()]
    installed = set()
    while todo:
        d = todo.pop()
        if d in installed: continue
        installed.add(d)
        try: reqs = md.requires(d) or []
        except md.PackageNotFoundError: continue
        todo += [norm(re.match(r"[\w.\-]+", r).group(0)) for r in reqs if "extra ==" not in r]
    owners = md.packages_distributions()
    missing = {}
    for f in (ROOT / "mltrain_nb").rglob("*.py"):
        for n in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else (
                [n.module] if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module else [])
            for top in {m.split(".")[0] for m in names} - set(sys.stdlib_module_names) - {"mltrain_nb", "distributed"}:
                if not any(norm(d) in installed for d in owners.get(top, [])):
                    missing.setdefault(top, []).append(f"{f.relative_to(ROOT)}:{n.lineno}")
    assert not missing, missing


def test_31_5_tune_shows_trial_progress_outside_a_panel(capsys, quiet):
    "Item 5: a search showed nothing outside a panel (compare showed its folds)."
    X, y = small(80)
    e = MLTrainingEngine(cv=2, tracking=OFF)                       # progress on: the default
    e.tune(X, y, "logistic_regression", n_trials=3, timeout=60)
    err = capsys.readouterr().err
    assert "Tuning logistic_regression_tuned" in err and "3/3" in err and "best " in err and "s left" in err
    seen = []
    e2 = MLTrainingEngine(cv=2, tracking=OFF, callbacks=[seen.append])   # a panel's callbacks: no bar
    e2.tune(X, y, "logistic_regression", n_trials=2)
    engine().tune(X, y, "logistic_regression", n_trials=2)        # progress=False: quiet
    assert "Tuning" not in capsys.readouterr().err
    started = [ev for ev in seen if type(ev).__name__ == "TrainingStarted"]
    assert started[0].n_trials == 2


def test_31_5_plot_and_explain_show_once_in_a_kernel_and_return(tmp_path):
    """Item 5: `result.plot(...)` showed nothing unless it was the cell's value; `result.explain()` returned a dict
    that printed hundreds of lines. In a real Jupyter kernel each shows its figure once, and returns it."""
    import nbformat
    from nbclient import NotebookClient
    cells = ["import warnings; warnings.simplefilter('ignore')\n"
             "from sklearn.datasets import load_iris\nfrom mltrain_nb.engine import MLTrainingEngine\n"
             "df = load_iris(as_frame=True).frame\n"
             "result = MLTrainingEngine(cv=2, tracking={'enabled': False}, progress=False).compare(\n"
             "    df, 'target', models=['logistic_regression'])",
             "result.plot('roc')",                                         # shown once, not again as the value
             "fig = result.plot('confusion_matrix'); type(fig).__name__",  # shown, and returned
             "fig",                                                        # a later cell shows it again
             "ex = result.explain(method='permutation')\nex",
             "ex['importance'], ex['method']"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = [c.outputs for c in nb.cells]
    pngs = [sum("image/png" in o.get("data", {}) for o in outs) for outs in out]
    assert pngs == [0, 1, 1, 1, 1, 0], pngs
    assert not [o for outs in out for o in outs if o.output_type == "error"]
    assert out[2][-1]["data"]["text/plain"] == "'Figure'"
    summary = out[4][-1]["data"]["text/plain"]
    assert summary.startswith("Explanation(permutation") and len(summary.splitlines()) <= 8, summary
    assert "'petal" in out[5][-1]["data"]["text/plain"]


def test_31_4_a_dask_address_without_dask_is_one_clear_error(tmp_path):
    "Item 4: `dask[distributed]` is a test dependency; without it a Dask address was a ModuleNotFoundError."
    p = python("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dask", "distributed"): raise ImportError(f"no {name}")
        sys.meta_path.insert(0, Block())
        import warnings; warnings.simplefilter("ignore")
        from sklearn.datasets import load_iris
        from mltrain_nb.engine import MLTrainingEngine
        from mltrain_nb.errors import ConfigError
        df = load_iris(as_frame=True).frame
        try: MLTrainingEngine(cv=2, progress=False, tracking={"enabled": False}).tune(
            df, "target", "logistic_regression", n_trials=2, dask_address="tcp://127.0.0.1:9")
        except ConfigError as e: print("CONFIG-ERROR", e)
    """, cwd=tmp_path, timeout=300)
    assert "CONFIG-ERROR" in p.stdout and "pip install 'dask[distributed]'" in p.stdout, p.stdout + p.stderr[-3000:]
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
