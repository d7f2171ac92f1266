"The magics in a real IPython shell, a fresh terminal IPython and a real Jupyter kernel: results, settings, every user-error path, completion, help."
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from IPython.core.error import UsageError

import mltrain_nb.magics as mm
import mltrain_nb.magics.train as mm_train
import mltrain_nb.magics.tune as mm_tune
from mltrain_nb.engine import MLTrainingEngine, TrainResult

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "nbs" / "tutorials" / "magics.ipynb"
FAST = "--models logistic_regression,decision_tree --cv 2"


@pytest.fixture(scope="module")
def shell():
    from IPython.testing.globalipapp import get_ipython
    return get_ipython()


@pytest.fixture
def ip(shell, iris_df, quiet):
    "The shell with the extension loaded, quick untracked defaults and `iris` in the namespace; all undone after."
    shell.run_line_magic("load_ext", "mltrain_nb")
    shell.run_line_magic("config", "MLTrain.progress = False")
    shell.run_line_magic("config", "MLTrain.tracking = False")
    shell.user_ns["iris"] = iris_df
    names = set(shell.user_ns)
    yield shell
    shell.run_line_magic("unload_ext", "mltrain_nb")
    shell.config.pop("MLTrain", None)
    for k in set(shell.user_ns) - names: shell.user_ns.pop(k, None)
    shell.user_ns.pop("iris", None)


def usage_error(f) -> str:
    "The message of the plain UsageError `f()` raises (a subclass would print a traceback)."
    with pytest.raises(UsageError) as e: f()
    assert type(e.value) is UsageError, type(e.value)
    msg = str(e.value)
    assert msg and "\n" not in msg, msg
    return msg


# ---- loading ------------------------------------------------------------------------------------

def test_load_registers_and_unload_removes(shell):
    shell.run_line_magic("load_ext", "mltrain_nb")
    try:
        lines, cells = shell.magics_manager.magics["line"], shell.magics_manager.magics["cell"]
        assert {"train", "tune", "mltrain"} <= set(lines) and {"train", "tune"} <= set(cells)
        assert sum(isinstance(c, mm.MLTrain) for c in shell.configurables) == 1
        assert {"%train", "%%train", "%tune", "%%tune", "%mltrain"} <= set(shell.strdispatchers["complete_command"].strs)
        mm.load_ipython_extension(shell)   # loading again changes nothing
        assert sum(isinstance(c, mm.MLTrain) for c in shell.configurables) == 1
    finally:
        shell.run_line_magic("unload_ext", "mltrain_nb")
    assert shell.find_line_magic("train") is None and shell.find_cell_magic("train") is None
    assert shell.find_line_magic("tune") is None and shell.find_line_magic("mltrain") is None
    assert not any(isinstance(c, mm.MLTrain) for c in shell.configurables)
    assert "%train" not in shell.strdispatchers["complete_command"].strs


def test_load_ext_imports_nothing_heavy():
    code = ("import sys, time\nfrom IPython.core.interactiveshell import InteractiveShell\nip = InteractiveShell.instance()\n"
            "t = time.perf_counter(); ip.run_line_magic('load_ext', 'mltrain_nb'); dt = time.perf_counter() - t\n"
            "import json; print(json.dumps({'seconds': dt, 'heavy': [m for m in ('sklearn', 'pandas', 'numpy', 'mlflow', "
            "'yaml', 'pydantic', 'optuna', 'matplotlib') if m in sys.modules], 'magic': ip.find_cell_magic('train') is not None}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert out["heavy"] == [] and out["magic"]
    assert out["seconds"] < 0.3, out


# ---- %%train and %train -------------------------------------------------------------------------

def test_train_cell_body_options_and_out(ip, capsys):
    r = ip.run_cell_magic("train", f"iris --target species {FAST} -o res", "cv: 4\nsplit: {test_size: 0.3}\nrandom_state: 1")
    assert isinstance(r, TrainResult) and ip.user_ns["res"] is r
    assert (r.config.cv, r.config.split.test_size, r.config.random_state) == (2, 0.3, 1)   # --cv beats the body
    assert set(r.results) == {"logistic_regression", "decision_tree"} and r.task == "classification"
    out = capsys.readouterr().out
    assert "task: classification (inferred from 'species': 3 classes)" in out
    assert "models: logistic_regression, decision_tree" in out and "tracking: off" in out
    assert ip.magics_manager.registry["MLTrainMagics"].last_result is r


def test_underscore_holds_the_result(ip):
    res = ip.run_cell(f"%train iris --target species {FAST}", store_history=True)
    assert res.error_in_exec is None and isinstance(res.result, TrainResult)
    assert ip.user_ns["_"] is res.result


def test_train_line_magic_on_csv_and_parquet(ip, iris_df, capsys):
    iris_df.to_csv("iris.csv", index=False)
    iris_df.drop(columns="color").to_parquet("iris.parquet")
    r = ip.run_line_magic("train", "iris.csv --target species --models decision_tree --cv 2 --task classification")
    assert list(r.results) == ["decision_tree"]
    assert "task: classification (given; 'species': 3 classes)" in capsys.readouterr().out
    ip.user_ns["path"] = "iris.parquet"   # a variable holding a path works too
    r = ip.run_line_magic("train", "path --target sepal\\ length\\ (cm) --models ridge --cv 2")
    assert r.task == "regression"
    assert "task: regression (inferred from 'sepal length (cm)': numeric" in capsys.readouterr().out


def test_config_settings_feed_the_config(ip, tmp_path):
    ip.run_line_magic("config", "MLTrain.cv = 3")
    ip.run_line_magic("config", "MLTrain.random_state = 7")
    ip.run_line_magic("config", "MLTrain.experiment = 'flowers'")
    ip.run_line_magic("config", "MLTrain.tracking = True")
    ip.run_line_magic("config", f"MLTrain.output_dir = {str(tmp_path / 'store')!r}")
    r = ip.run_line_magic("train", "iris --target species --models decision_tree")
    assert (r.config.cv, r.config.random_state, r.config.tracking.experiment) == (3, 7, "flowers")
    assert r.run_id and r.tracking_uri == f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    cfg = ip.run_line_magic("mltrain", "config")
    assert cfg["cv"] == 3 and cfg["experiment"] == "flowers" and cfg["resolved_tracking_uri"] == r.tracking_uri
    runs = ip.run_line_magic("mltrain", "runs --experiment flowers")
    assert len(runs) == 2 and set(runs["experiment"]) == {"flowers"}           # the comparison and its model
    assert "decision_tree" in set(runs["model"]) and "cv_accuracy" in runs
    assert len(ip.run_line_magic("mltrain", "runs --all").columns) > len(runs.columns)
    assert "Did you mean 'flowers'?" in usage_error(lambda: ip.run_line_magic("mltrain", "runs --experiment flower"))


def test_runs_without_a_store(ip, capsys):
    runs = ip.run_line_magic("mltrain", "runs")
    assert runs.empty and "No runs tracked yet" in capsys.readouterr().out
    assert not Path("experiments").exists()   # looking does not create a store


# ---- every user mistake is one plain UsageError line ----------------------------------------------

TRAIN_ERRORS = [
    ("irsi --target species", "No variable 'irsi' in the namespace. Did you mean 'iris'?"),
    ("nothere.csv --target species", "No file at 'nothere.csv'"),
    ("data/nothere.parquet --target species", "No file at 'data/nothere.parquet'"),
    ("iris --target specis", "Missing target column 'specis' (did you mean 'species'?)"),
    ("iris --target species --modles xgboost", "%train: Unknown option '--modles'. Did you mean '--models'?"),
    ("iris --target species --cv three", "argument --cv: invalid int value: 'three'"),
    ("iris --target species --task clasification", "argument --task: invalid choice: 'clasification'"),
    ("", "the following arguments are required: DATA"),
    ("iris", "name the column to predict with --target COL"),
    ("iris --target species --models xgbost", "Unknown classification algorithm 'xgbost'. Did you mean 'xgboost'? Valid: "),
    ("iris --target species --metric acuracy", "acuracy"),
    ("iris --target species --cv 1", "'cv'"),
    ("numbers --target species", "'numbers' is a list, not a DataFrame"),
    ("iris --target species -o 2x", "-o '2x': not a valid variable name"),
    ("iris --target 'species", "check the quotes"),
]


@pytest.mark.parametrize("line,expected", TRAIN_ERRORS)
def test_train_user_errors(ip, line, expected):
    ip.user_ns["numbers"] = [1, 2, 3]
    assert expected in usage_error(lambda: ip.run_line_magic("train", line))


@pytest.mark.parametrize("body,expected", [
    ("cv: [3", "The YAML config is not valid at line 1"),
    ("modles: [xgboost]", "Unknown config key 'modles'. Did you mean 'models'?"),
    ("split: {tst_size: 0.3}", "Did you mean 'test_size'?"),
    ("just words", "A config must be a mapping"),
])
def test_train_body_errors(ip, body, expected):
    assert expected in usage_error(lambda: ip.run_cell_magic("train", "iris --target species", body))


@pytest.mark.parametrize("line,body,expected", [
    ("random_forest --data iris", None, "needs --target COL"),
    ("iris", None, "'iris' is a DataFrame; %tune takes an algorithm or a TrainResult"),
    ("random_forest", None, "%tune random_forest needs data: add --data DATA --target COL"),
    ("xgbost --data iris --target species", None, "Unknown classification algorithm 'xgbost'. Did you mean 'xgboost'?"),
    ("random_forest --data iris --target specis", None, "Missing target column 'specis'"),
    ("random_forest --data iris --target species --sampler tp", None, "argument --sampler: invalid choice"),
    ("random_forest --data iris --target species --trails 3", None, "Did you mean '--trials'?"),
    ("random_forest --data iris --target species --trials 0", None, "n_trials"),
    ("random_forest --data iris --target species", "max_depth: {int: [3", "The YAML search space is not valid at line 1"),
    ("random_forest --data iris --target species", "[1, 2]", "The search space must map parameter names to ranges"),
])
def test_tune_user_errors(ip, line, body, expected):
    f = (lambda: ip.run_line_magic("tune", line)) if body is None else (lambda: ip.run_cell_magic("tune", line, body))
    assert expected in usage_error(f)


def test_tune_result_with_data_is_an_error(ip):
    ip.run_line_magic("train", f"iris --target species {FAST} -o r")
    assert "drop --data" in usage_error(lambda: ip.run_line_magic("tune", "r --data iris --target species"))


def test_mltrain_user_errors(ip):
    mt = lambda line: usage_error(lambda: ip.run_line_magic("mltrain", line))
    assert "No %train result yet" in mt("leaderboard")
    assert "Unknown %mltrain subcommand 'leaderbord'. Did you mean 'leaderboard'?" in mt("leaderbord")
    assert mt("promote").startswith("%mltrain promote: the following arguments are required: NAME, VERSION")
    assert mt("panel") == "%mltrain panel needs a notebook with ipywidgets (it is a widget form)."   # a terminal shell
    assert "No %train or %tune result yet" in mt("register --name churn")
    ip.run_line_magic("train", f"iris --target species {FAST} -o r")
    ip.user_ns["x"] = 3
    assert "'x' is a int, not a TrainResult" in mt("leaderboard x")
    assert "No variable 'rr' in the namespace. Did you mean 'r'?" in mt("leaderboard rr")
    assert "Unknown model 'decision_tre'. Did you mean 'decision_tree'?" in mt("evaluate r --model decision_tre")
    assert "Unknown plot for a classification model 'residuals'" in mt("evaluate r --plots residuals")
    assert "argument --method: invalid choice: 'lime'" in mt("explain r --method lime")
    assert "%mltrain runs: Unknown option '--experment'. Did you mean '--experiment'?" in mt("runs --experment x")


def test_usage_error_prints_one_line_no_traceback(ip, capfd):
    res = ip.run_cell("%train irsi --target species")
    assert type(res.error_in_exec) is UsageError
    out = capfd.readouterr()
    text = out.out + out.err
    assert "UsageError: No variable 'irsi'" in text and "Traceback" not in text


def test_real_bug_keeps_its_traceback(ip, monkeypatch):
    def broken(self, X, y=None, models=None): return 1 / 0
    monkeypatch.setattr(MLTrainingEngine, "compare", broken)
    with pytest.raises(ZeroDivisionError): ip.run_line_magic("train", "iris --target species --models decision_tree")


# ---- interrupts ----------------------------------------------------------------------------------

def _on_first_model(action):
    from mltrain_nb.events import ModelDone
    def cb(event):
        if isinstance(event, ModelDone) and not cb.fired:
            cb.fired = True
            action()
    cb.fired = False
    return cb


def test_interrupt_returns_the_partial_result(ip, monkeypatch, capsys):
    "Ctrl-C (SIGINT) during the second model: the engine stops after the fold and the magic keeps the first."
    cb = _on_first_model(lambda: os.kill(os.getpid(), signal.SIGINT))
    monkeypatch.setattr(mm_train, "_display_callbacks", lambda shell, panel, *a, **k: [cb])
    r = ip.run_line_magic("train", f"iris --target species {FAST} -o r")
    assert r.interrupted and list(r.results) == ["logistic_regression"] and ip.user_ns["r"] is r
    assert ("interrupted: kept 1 finished model (logistic_regression); not finished: decision_tree."
            in capsys.readouterr().out)


def test_interrupt_escaping_the_engine_still_returns_finished_models(ip, monkeypatch, capsys):
    def stop(): raise KeyboardInterrupt
    monkeypatch.setattr(mm_train, "_display_callbacks", lambda shell, panel, *a, **k: [_on_first_model(stop)])
    r = ip.run_line_magic("train", f"iris --target species {FAST}")
    assert r.interrupted and list(r.results) == ["logistic_regression"]
    assert list(r.leaderboard.index) == ["logistic_regression"]
    assert "interrupted: kept 1 finished model" in capsys.readouterr().out


# ---- %mltrain subcommands ------------------------------------------------------------------------

def test_leaderboard_evaluate_explain(ip, capsys):
    r = ip.run_line_magic("train", f"iris --target species {FAST} -o r")
    board = ip.run_line_magic("mltrain", "leaderboard")        # the last result by default
    assert list(board.index) == list(r.leaderboard.index) and "cv_accuracy" in board
    assert ip.run_line_magic("mltrain", "leaderboard r --full").shape == r.leaderboard.shape
    m = ip.run_line_magic("mltrain", "evaluate r --model decision_tree --plots confusion_matrix,roc")
    assert m["model"] == "decision_tree" and 0.5 < m["accuracy"] <= 1 and m["n_rows"] == 30
    out = capsys.readouterr().out   # terminal IPython: figures are written and their paths printed
    for kind in ("confusion_matrix", "roc"):
        assert Path(f"experiments/plots/decision_tree_{kind}.png").stat().st_size > 1000
        assert f"decision_tree_{kind}: experiments/plots/decision_tree_{kind}.png" in out
    imp = ip.run_line_magic("mltrain", "explain r --method permutation -o ex")
    assert list(imp.columns) == ["importance", "std"] and set(imp.index) == set(r.engine.data.X.columns)
    assert ip.user_ns["ex"]["method"] == "permutation"
    shap = ip.run_line_magic("mltrain", "explain --model logistic_regression")
    assert shap.index[0] in ("petal length (cm)", "petal width (cm)")


def test_mltrain_without_subcommand_prints_help(ip, capsys):
    assert ip.run_line_magic("mltrain", "") is None
    out = capsys.readouterr().out
    for sub in ("%mltrain runs [--experiment NAME]", "%mltrain leaderboard", "%mltrain evaluate", "%mltrain explain",
                "%mltrain config", "%mltrain ui [--stop]"):
        assert sub in out, sub
    assert "register" in out and "::" not in out


def test_register_subcommand_is_the_extension_point(ip):
    try:
        parser = mm.subcommand_parser("hello", "Say hello.", (("name",), dict(help="who")))
        mm.register_subcommand("hello", lambda magics, args: f"hello {args.name}", parser, "Say hello.")
        assert ip.run_line_magic("mltrain", "hello world") == "hello world"
        assert "%mltrain hello name" in ip.find_line_magic("mltrain").__doc__
    finally:
        mm.SUBCOMMANDS.pop("hello", None)


def test_ui_starts_and_stops(ip, capsys):
    ip.run_line_magic("mltrain", "ui")
    url = mm._UI["url"]
    proc = mm._UI["proc"]
    assert url.startswith("http://127.0.0.1:") and f"MLflow UI: {url}" in capsys.readouterr().out
    with urllib.request.urlopen(url, timeout=5) as resp: assert resp.status == 200
    ip.run_line_magic("mltrain", "ui --stop")
    assert proc.poll() is not None and "MLflow UI stopped." in capsys.readouterr().out
    ip.run_line_magic("mltrain", "ui --stop")
    assert "No MLflow UI is running." in capsys.readouterr().out


# ---- help and completion -------------------------------------------------------------------------

def test_help_shows_every_option(ip, capsys):
    for magic in ("train", "tune"):
        f = ip.find_cell_magic(magic)
        assert all(a.help for a in f.parser._actions)
        for a in f.parser._actions:
            for opt in a.option_strings: assert opt in f.__doc__, (magic, opt)
    ip.run_cell("%%train?")
    out = capsys.readouterr().out
    assert "--models A,B,C" in out and "comma-separated algorithms" in out and "--no-panel" in out


def _complete(ip, line):
    return ip.complete(None, line, len(line))[1]


def test_completion(ip):
    assert "xgboost" in _complete(ip, "%train iris --models ")
    assert _complete(ip, "%train iris --models random_forest,xg") == ["xgboost"]
    assert "lightgbm" in _complete(ip, "%%train iris --target species --models l")
    assert set(_complete(ip, "%train iris --mo")) == {"--models"}
    assert {"--target", "--task", "--test-size"} <= set(_complete(ip, "%%train iris --t"))
    assert "species" in _complete(ip, "%train iris --target sp")
    assert "iris" in _complete(ip, "%train ir")
    assert {"--trials", "--timeout"} <= set(_complete(ip, "%tune random_forest --t"))
    assert "leaderboard" in _complete(ip, "%mltrain lea")
    assert set(_complete(ip, "%tune xgboost --data iris --sampler ")) >= {"tpe", "random"}


# ---- %tune (needs the tuning issue's engine.tune) ------------------------------------------------

def test_tune_a_train_result(ip, capsys):
    r = ip.run_line_magic("train", f"iris --target species {FAST} -o r")
    best = r.results[r.best_model_name]["algorithm"]
    t = ip.run_line_magic("tune", "r --trials 3 -o t")
    assert ip.user_ns["t"] is t and t.algorithm == best and len(t.trials) == 3
    assert t.model_name in r.engine.models          # the tuned model joins r's engine
    assert t.model_name in ip.run_line_magic("mltrain", "leaderboard r").index
    assert f"tuning {best} (the best model of r by accuracy) on r's data" in capsys.readouterr().out


def test_tune_cell_with_search_space(ip):
    res = ip.run_cell("%%tune decision_tree --data iris --target species --trials 4 --sampler random\nmax_depth: {int: [2, 4]}\n",
                      store_history=True)
    assert res.error_in_exec is None, res.error_in_exec
    t = ip.user_ns["_"]
    assert len(t.trials) == 4 and 2 <= t.best_params["max_depth"] <= 4


def test_tune_interrupt_returns_the_partial_result(ip, monkeypatch, capsys):
    from mltrain_nb.events import TrialDone
    def cb(event):
        if isinstance(event, TrialDone) and not cb.fired:
            cb.fired = True
            os.kill(os.getpid(), signal.SIGINT)
    cb.fired = False
    monkeypatch.setattr(mm_tune, "_display_callbacks", lambda shell, panel, *a, **k: [cb])
    t = ip.run_line_magic("tune", "decision_tree --data iris --target species --trials 20")
    assert t.interrupted and 1 <= len(t.trials) < 20
    assert "interrupted: kept the" in capsys.readouterr().out


# ---- terminal IPython and a real Jupyter kernel --------------------------------------------------

def test_terminal_ipython_trains_and_prints_a_leaderboard(iris_df, tmp_path):
    iris_df.to_csv("flowers.csv", index=False)
    code = ("%load_ext mltrain_nb\n%config MLTrain.progress = False\n"
            "%train flowers.csv --target species --models logistic_regression,decision_tree --cv 3")
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    p = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", code],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "task: classification (inferred from 'species': 3 classes)" in out
    assert "TrainResult(classification, 2 models" in out and "cv_accuracy" in out
    assert "logistic_regression" in out and "decision_tree" in out
    assert "tracked: run " in out and Path("experiments/mlflow.db").exists()
    assert "Traceback" not in out + p.stderr


def test_tutorial_runs_in_a_jupyter_kernel(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(TUTORIAL, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)            # plots show inline
    assert any("text/html" in o.get("data", {}) for o in outputs)              # rich results (leaderboards)
    assert not (tmp_path / "experiments").exists()   # tracking went to the folder set with %config MLTrain.output_dir


def test_runs_use_the_store_the_result_was_tracked_in(ip, tmp_path):
    "A %%train body may send the runs to another store than the settings' one; %mltrain runs lists that store."
    ip.run_line_magic("config", "MLTrain.tracking = True")
    ip.run_line_magic("config", f"MLTrain.output_dir = {str(tmp_path / 'settings_store')!r}")
    r = ip.run_cell_magic("train", f"iris --target species {FAST}", f"tracking:\n  output_dir: {tmp_path / 'body_store'}\n")
    assert r.tracking_uri == f"sqlite:///{tmp_path / 'body_store' / 'mlflow.db'}"
    runs = ip.run_line_magic("mltrain", "runs")
    assert r.run_id in set(runs["run_id"]) and len(runs) == 3            # the comparison and its two models
    assert not (tmp_path / "settings_store").exists()
