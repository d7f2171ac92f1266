"""Every fenced block of README.md, run as a reader pastes it: the python blocks (magics included) in a real IPython
InteractiveShell, one section per shell as one notebook, the bash blocks with bash in a subprocess; each test in its own
temporary folder with its own MLflow SQLite store (`experiments/mlflow.db` there).

Run as written, the tour tunes for 30 trials, trains 5-fold and the demo compares 9 models: minutes on two cores. The
everyday run makes the few substitutions in CHEAP (fewer trials and folds; each must still match the README, or the test
says so); `python -m pytest --slow tests/test_readme.py` runs every block verbatim. A block that cannot run here (it is
this test suite, or it needs the reader's own data file) is skipped with the reason, and every block must be claimed by
a test: a new README block fails `test_every_block_is_run_or_skipped` until a test runs it."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# README text -> what the everyday run uses instead (verbatim under --slow)
CHEAP = {
    "--cv 5 -o r": "--cv 2 -o r",
    "--trials 30 --timeout 120": "--trials 3 --timeout 120",
    "MLTrainingEngine(cv=5)": "MLTrainingEngine(cv=2)",
    "n_trials=30, timeout=120": "n_trials=3, timeout=120",
    # the MLflow UI waits for every pending plot and for its server: tests/test_magics.py starts and stops it on every
    # run, this test under --slow
    "%mltrain ui ": "# %mltrain ui ",
}


def blocks() -> list[tuple[str, str, int]]:
    "`(language, code, line)` of every fenced block of the README, indented ones (inside a list item) dedented."
    out, lines, i = [], README.read_text().splitlines(), 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not m: i += 1; continue
        indent, lang, start, body = len(m.group(1)), m.group(2), i + 1, []
        i += 1
        while not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][indent:]); i += 1
        out.append((lang, "\n".join(body), start))
        i += 1
    return out


def section(title: str) -> str:
    "The README's text from the heading `title` to the next heading of the same or a higher level."
    text = README.read_text()
    level = re.search(rf"^(#+) {re.escape(title)}\s*$", text, re.M)
    assert level, f"README has no heading {title!r}"
    rest = text[level.end():]
    end = re.search(rf"^#{{1,{len(level.group(1))}}} ", rest, re.M)
    return rest[:end.start()] if end else rest


def section_blocks(title: str, lang: str) -> list[str]:
    "The `lang` blocks of the README's section `title`, in order."
    text = section(title)
    return [code for lg, code, _ in blocks() if lg == lang and code in text]


def as_run(code: str, verbatim: bool) -> str:
    "`code` with the CHEAP substitutions unless `verbatim`."
    if verbatim: return code
    for old, new in CHEAP.items(): code = code.replace(old, new)
    return code


@pytest.fixture
def verbatim(request) -> bool:
    return bool(request.config.getoption("--slow"))


# ---- which test runs which block -----------------------------------------------------------------------------------

SKIPPED = {   # a distinctive line of the block -> why no test runs it
    'pip install -e ".[dev]" && python -m pytest': "the test suite itself: running it from a test would recurse",
    "nbdev-export && nbdev-clean && ruff check nbs && python -m pytest":
        "the developer loop: it rewrites the checkout and runs this suite; .ci/run runs it",
}
RUN = {   # a distinctive line of the block -> the test that runs it
    "%load_ext mltrain_nb": "test_magics_tour", "new_rows = df.drop": "test_magics_tour",
    "%%train df --target species": "test_magics_tour", "%tune r --trials": "test_magics_tour",
    "%mltrain rollback iris": "test_magics_tour",
    "engine = MLTrainingEngine(cv=5)": "test_python_api_block",
    "pip install -e . && mltrain demo": "test_main_job_block",
    "mltrain pipeline --quick_run": "test_pipeline_block",
    "mltrain server --port 8000": "test_rest_block",
}


def test_every_block_is_run_or_skipped():
    claimed = {**SKIPPED, **RUN}
    for lang, code, line in blocks():
        owners = [k for k in claimed if k in code]
        assert len(owners) == 1, f"README.md:{line}: a {lang} block run by no test (or by several): {code[:200]!r}"
        assert lang in ("python", "bash"), f"README.md:{line}: a block without a language: {code[:200]!r}"
    text = README.read_text()
    assert all(old in text for old in CHEAP), [old for old in CHEAP if old not in text]   # substitutions still apply


# ---- python: a real IPython shell, one notebook per section ---------------------------------------------------------

@pytest.fixture
def notebook(tmp_path):
    "A fresh IPython InteractiveShell namespace in `tmp_path`; `run(code)` runs one cell and fails on its error."
    from IPython.testing.globalipapp import get_ipython
    shell = get_ipython()
    shell.reset(new_session=False)
    def run(code: str):
        r = shell.run_cell(code, store_history=True)
        err = r.error_before_exec or r.error_in_exec
        assert err is None, f"README cell failed: {type(err).__name__}: {err}\n{code}"
        return r.result
    yield shell, run
    if "mltrain_nb" in shell.extension_manager.loaded: shell.run_line_magic("unload_ext", "mltrain_nb")
    shell.config.pop("MLTrain", None)
    shell.reset(new_session=False)


def test_magics_tour(notebook, verbatim, tmp_path, capsys):
    "The magics section, cell by cell: train, tune, explain, runs, the MLflow UI, register twice, predict, roll back."
    from mltrain_nb.magics.cmd_ui import _UI, stop_ui
    from mltrain_nb.registry import ModelDeployment
    shell, run = notebook
    cells = section_blocks("In a notebook: magics", "python")
    assert len(cells) == 5 and cells[0] == "%load_ext mltrain_nb"
    try:
        for code in cells: run(as_run(code, verbatim))
        if verbatim:
            url = _UI.get("url")
            assert url and url.startswith("http://127.0.0.1:")
            with urllib.request.urlopen(url, timeout=10) as resp: assert resp.status == 200
    finally:
        stop_ui()
    ns = shell.user_ns
    assert type(ns["r"]).__name__ == "TrainResult" and type(ns["t"]).__name__ == "TuneResult"
    out = capsys.readouterr().out
    assert "rolled back to iris/1" in out and "Traceback" not in out
    dep = ModelDeployment(tracking_uri=f"sqlite:///{tmp_path / 'experiments' / 'mlflow.db'}")
    versions = {int(e["registry_version"]): e["status"] for e in dep.list_models("iris")}
    assert sorted(versions) == [1, 2] and versions[1] == "Production", versions


def test_python_api_block(notebook, verbatim, tmp_path):
    "The Python API block as one notebook cell: compare, plot, explain, report, tune, voting, evaluate, save, load."
    shell, run = notebook
    (code,) = section_blocks("The Python API", "python")
    loaded = run(as_run(code, verbatim))
    assert type(loaded).__name__ == "ModelResult" and loaded.name == "xgboost"
    ns = shell.user_ns
    assert list(ns["result"].predict(ns["df"].head()))[0] == "setosa"
    assert (tmp_path / "reports" / "iris.md").exists() and (tmp_path / "reports" / "iris.html").exists()
    assert Path(ns["path"]).is_file() and "xgboost_tuned" in ns["engine"].models
    explained = ns["result"].explain()
    assert len(repr(explained).splitlines()) <= 12 and explained["importance"]   # a summary that reads like a dict


# ---- bash blocks ---------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bash(code: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run `code` with `bash -e` in `cwd`, in a session of its own; whatever it started and left running is killed
    (and the test fails)."""
    if shutil.which("mltrain") is None: pytest.skip("the mltrain command is not on PATH: pip install -e . first")
    proc = subprocess.Popen(["bash", "-ec", code], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try: out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the README block ran over {timeout:.0f} s:\n{out[-3000:]}")
    left = _still_running(proc.pid)
    assert not left, f"the README block left processes running: {left}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def _still_running(pgid: int, grace: float = 15) -> bool:
    "Whether processes of the group `pgid` are still alive after `grace` seconds (then they are killed)."
    deadline = time.time() + grace
    while time.time() < deadline:
        try: os.killpg(pgid, 0)
        except ProcessLookupError: return False
        time.sleep(0.25)
    os.killpg(pgid, signal.SIGKILL)
    return True


@pytest.mark.slow
def test_main_job_block(tmp_path):
    """`pip install -e . && mltrain demo`: the part after the install (this environment has the package), verbatim.
    Slow (9 models); tests/test_package.py runs `mltrain demo --cv 3` on every run."""
    (code,) = [c for lang, c, _ in blocks() if lang == "bash" and "mltrain demo" in c]
    install, sep, command = code.partition(" && ")
    assert install == "pip install -e ." and sep, code
    r = _bash(command, tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Traceback" not in r.stdout and (tmp_path / "experiments" / "mlflow.db").exists()


@pytest.mark.slow
def test_pipeline_block(tmp_path):
    """The experiment-automation block: the smoke run on the shipped demo, then the reports rebuilt from the store.
    The middle command needs the reader's own `sales.parquet`; it is checked to parse (`--help` of the same command)."""
    (code,) = [c for lang, c, _ in blocks() if lang == "bash" and "mltrain pipeline --quick_run" in c]
    commands = [c.split("#")[0].strip() for c in code.replace("\\\n", " ").splitlines() if c.strip()]
    assert len(commands) == 3 and "sales.parquet" in commands[1], commands
    r = _bash(f"{commands[0]}\n{commands[2]}", tmp_path, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:]
    assert (tmp_path / "reports" / "consolidated_reports").is_dir() and "Traceback" not in r.stdout


def test_rest_block(tmp_path):
    """The REST walkthrough, verbatim but on a free port (8000 may be taken on the machine running the tests): the
    server started in the background, every call, then `kill %1`; nothing may be left running."""
    (code,) = [c for lang, c, _ in blocks() if lang == "bash" and "mltrain server --port 8000" in c]
    port = _free_port()
    script = code.replace("--port 8000", f"--port {port}").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    r = _bash(script, tmp_path, timeout=420)
    out = r.stdout
    assert r.returncode == 0, out[-3000:]
    assert '"status":"completed"' in out.replace(" ", "") and '"prediction"' in out, out[-3000:]
    assert "Traceback" not in out and "Internal Server Error" not in out
