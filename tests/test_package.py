"The package as a user meets it: a cheap import, the notebooks' own tests, the mltrain command."
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The flat notebooks one by one, an area's folder (nbs/engine, nbs/tuning, ...) as one run: its notebooks share one
# interpreter, so each does not pay the imports again (a process start costs seconds on a busy 2-core machine).
NOTEBOOKS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "nbs").glob("*.ipynb"))
NOTEBOOKS += sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "nbs").iterdir()
                    if p.is_dir() and any(p.glob("*.ipynb")))


def run(*args, timeout=600, cwd=ROOT, **kw):
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


def test_import_is_light():
    "`import mltrain_nb` must not pull in the heavy libraries: they load inside the functions that need them."
    code = ("import sys, mltrain_nb; mltrain_nb.MLTrainError; "
            "heavy = [m for m in ('sklearn', 'xgboost', 'lightgbm', 'pandas', 'numpy', 'pydantic', 'mlflow', 'shap', 'matplotlib') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = run(sys.executable, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported at package import: {out.stdout}"


def test_lazy_names_resolve():
    import mltrain_nb
    assert mltrain_nb.MLTrainingEngine.__name__ == "MLTrainingEngine"
    assert mltrain_nb.TrainConfig.__name__ == "TrainConfig"
    with pytest.raises(AttributeError):
        mltrain_nb.not_a_thing


@pytest.mark.parametrize("nb", NOTEBOOKS)
def test_notebook(nb):
    "Each notebook's inline tests pass (nbdev-test runs every cell not flagged notest/slow)."
    out = run("nbdev-test", "--n-workers", "0", nb, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_cli_demo_prints_both_leaderboards(tmp_path):
    out = run("mltrain", "demo", "--cv", "3", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "experiments" / "mlflow.db").exists() and "mlflow ui --backend-store-uri" in out.stdout
    assert "Classification: breast cancer" in out.stdout and "Regression: diabetes" in out.stdout
    for name in ("logistic_regression", "random_forest", "xgboost", "lightgbm", "decision_tree", "ridge"):
        assert name in out.stdout


def test_cli_user_error_is_one_line(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    out = run("mltrain", "train", str(csv), "--target", "c", "--no-progress", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "Missing target column 'c'" in out.stderr
    out = run("mltrain", "train", str(tmp_path / "nope.csv"), "--target", "c", cwd=tmp_path)
    assert out.returncode == 2 and "No file at" in out.stderr
