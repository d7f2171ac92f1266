"""The shims of other libraries' private APIs (mltrain_nb/_compat): each shim's `check()` finds every private name it
uses, so that an upgrade that drops one fails here, in one place, with the library, its version and the name. Also:
no other module of the package touches those names, and importing a shim imports no library."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mltrain_nb._compat import SHIMS, alembic, argparse, loky, matplotlib, mlflow, sklearn
from mltrain_nb._compat.symbols import PrivateAPIError, check_symbols

PKG = Path(__file__).resolve().parents[1] / "mltrain_nb"


def test_mlflow_private_names():
    assert len(mlflow.check()) == len(mlflow.SYMBOLS) == 10


def test_sklearn_private_names():
    assert len(sklearn.check()) == len(sklearn.SYMBOLS) == 3


def test_alembic_private_names():
    assert len(alembic.check()) == len(alembic.SYMBOLS) == 2


def test_loky_private_names():
    assert len(loky.check()) == len(loky.SYMBOLS) + len(loky.POOL_SYMBOLS)


def test_argparse_private_names():
    assert argparse.check() == ["argparse.ArgumentParser()._option_string_actions"]


def test_matplotlib_private_names():
    assert matplotlib.check() == ["matplotlib.RcParams._get_backend_or_none", "matplotlib.pyplot._REPL_DISPLAYHOOK",
                                  "matplotlib.pyplot._ReplDisplayHook.IPYTHON",
                                  "matplotlib.pyplot._draw_all_if_interactive"]


def test_every_shim_is_checked_here():
    "A new shim gets its test above (and its row in SHIMS)."
    shims = {p.stem for p in (PKG / "_compat").glob("*.py")} - {"__init__", "symbols"}
    assert shims == set(SHIMS)


def test_a_missing_name_is_one_clear_error(monkeypatch):
    "What an upgrade that drops a name looks like: the library, its installed version, the name, the file."
    monkeypatch.setattr(sklearn, "SYMBOLS", sklearn.SYMBOLS + [("sklearn.base", "_gone_in_this_version")])
    import sklearn as sk
    with pytest.raises(PrivateAPIError) as e:
        sklearn.check()
    msg = str(e.value)
    assert f"scikit-learn {sk.__version__}" in msg and "sklearn.base._gone_in_this_version" in msg
    assert "mltrain_nb/_compat/sklearn.py" in msg and msg.count("sklearn.base._gone") == 1
    with pytest.raises(PrivateAPIError, match="no_such_module"):
        check_symbols("argparse", [("no_such_module", "x")])


def test_importing_the_shims_imports_no_library():
    "`import mltrain_nb` and the magics stay light: a shim imports its library only when a function is called."
    code = ("import sys, mltrain_nb._compat; "
            "print(sorted(m for m in ('mlflow', 'sklearn', 'alembic', 'joblib', 'matplotlib', 'argparse') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


PRIVATE = {  # a private name -> the shim that alone may read it
    name.split(".")[-1]: shim for shim in ("mlflow", "sklearn", "alembic", "loky", "matplotlib")
    for _, name in SHIMS[shim].SYMBOLS
}
PRIVATE.update({n.split(".")[0]: "loky" for n in loky.POOL_SYMBOLS})
PRIVATE.update({n: "argparse" for n in argparse.SYMBOLS})


def _names(tree) -> set[str]:
    "Every attribute read and every name imported in `tree`."
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute): out.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and not node.level and not node.module.startswith("mltrain_nb"):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in PRIVATE:
            out.add(node.value)   # getattr(x, "_name")
    return out


@pytest.mark.parametrize("path", sorted(p for p in PKG.rglob("*.py")
                                        if "_compat" not in p.parts and p.name != "_modidx.py"),
                         ids=lambda p: str(p.relative_to(PKG)))
def test_no_module_outside_compat_reads_a_private_name(path):
    used = sorted(set(PRIVATE) & _names(ast.parse(path.read_text())))
    assert not used, f"{path.relative_to(PKG)} reads {used}: go through mltrain_nb._compat"
