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
