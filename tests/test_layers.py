"""The one-way layers of docs/architecture.md, checked on the source: no module imports a higher layer, no import
cycle among the package's modules, every module is in the layer table, only faces import IPython/ipywidgets, only
tracking and registry (and the shim _compat.mlflow, by name) import mlflow. Imports inside functions count: they are
the same dependency, paid later."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "mltrain_nb"
DOC = ROOT / "docs" / "architecture.md"
EXEMPT = {"__init__", "_modidx"}          # the lazy-name root and nbdev's index
FACE_ONLY = ("IPython", "ipywidgets")
MLFLOW_OWNERS = {"tracking", "registry"}
MLFLOW_SHIMS = {"_compat.mlflow"}     # exactly this module of _compat: the shim of MLflow's private names


def layer_table(text: str) -> dict[str, int]:
    "`{table module: layer}` from the table under '## Layers'."
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*(\d+)\s+[^|]*\|(.*)\|\s*$", line)
        if m:
            for name in re.findall(r"`([A-Za-z_][\w.]*)`", m.group(2)): layers[name] = int(m.group(1))
    return layers


def module_name(path: Path) -> str:
    "'engine' for mltrain_nb/engine.py, 'server.app' for mltrain_nb/server/app.py, 'server' for its __init__."
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1: parts = parts[:-1]
    return ".".join(parts)


def table_key(module: str, layers: dict[str, int]) -> str | None:
    "The table's name for `module`: itself, else its subpackage ('server.app' -> 'server')."
    while module:
        if module in layers: return module
        module = module.rpartition(".")[0]
    return None


def lazy_names() -> dict[str, str]:
    "The package root's lazy public names -> the module defining them (`from mltrain_nb import MLTrainingEngine`)."
    tree = ast.parse((PKG / "__init__.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_LAZY" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def imports(path: Path) -> tuple[set[str], set[str]]:
    "(package modules imported by `path`, top-level outside packages imported), from every import statement in it."
    mod = module_name(path)
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    ours, theirs, lazy = set(), set(), lazy_names()
    def add_ours(dotted: str, names=()):
        # `from mltrain_nb import x` / `from . import x`: x is a module when a file for it exists
        if dotted == "":
            for n in names:
                if (PKG / f"{n}.py").exists() or (PKG / n).is_dir(): ours.add(n)
                elif n in lazy: ours.add(lazy[n])
                else: ours.add("errors")       # the root re-exports only the error classes eagerly
        else:
            folder = PKG.joinpath(*dotted.split("."))
            subs = [n for n in names if folder.is_dir() and (folder / f"{n}.py").exists()]
            ours.update(f"{dotted}.{n}" for n in subs)
            if len(subs) < len(names): ours.add(dotted)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "mltrain_nb" or a.name.startswith("mltrain_nb."): add_ours(a.name[len("mltrain_nb."):])
                else: theirs.add(a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                dotted = ".".join(base + ([node.module] if node.module else []))
                add_ours(dotted, names)
            elif node.module == "mltrain_nb" or (node.module or "").startswith("mltrain_nb."):
                add_ours(node.module[len("mltrain_nb."):] if node.module != "mltrain_nb" else "", names)
            elif node.module: theirs.add(node.module.split(".")[0])
    ours.discard(mod)
    return ours, theirs


LAYERS = layer_table(DOC.read_text())
FILES = sorted(p for p in PKG.rglob("*.py") if module_name(p) not in EXEMPT and "__pycache__" not in p.parts)
GRAPH = {module_name(p): imports(p) for p in FILES}


def test_the_table_parses():
    assert LAYERS["errors"] == 0 and LAYERS["engine"] == 4 and LAYERS["magics"] == 5 and LAYERS["server"] == 5
    assert LAYERS["results"] == 1 and LAYERS["tracking"] == 2 and LAYERS["workflow"] == 4


def test_every_module_is_in_the_table():
    missing = [m for m in GRAPH if table_key(m, LAYERS) is None]
    assert not missing, f"not in the layer table of docs/architecture.md: {missing}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_of_a_higher_layer(module):
    mine = LAYERS[table_key(module, LAYERS)]
    up = [(m, LAYERS[table_key(m, LAYERS)]) for m in GRAPH[module][0]
          if table_key(m, LAYERS) is not None and LAYERS[table_key(m, LAYERS)] > mine]
    assert not up, f"{module} (layer {mine}) imports a higher layer: {up}"


def test_no_import_cycle():
    graph = {m: {d for d in deps if d in GRAPH} for m, (deps, _) in GRAPH.items()}
    state, stack, cycles = {}, [], []
    def visit(m):
        state[m] = "open"; stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open": cycles.append(stack[stack.index(d):] + [d])
            elif d not in state: visit(d)
        stack.pop(); state[m] = "done"
    for m in sorted(graph):
        if m not in state: visit(m)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_only_faces_import_ipython(module):
    if LAYERS[table_key(module, LAYERS)] == 5: return
    bad = sorted(set(FACE_ONLY) & GRAPH[module][1])
    assert not bad, f"{module} is below the faces but imports {bad}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_only_tracking_and_registry_import_mlflow(module):
    if table_key(module, LAYERS) in MLFLOW_OWNERS or module in MLFLOW_SHIMS: return
    assert "mlflow" not in GRAPH[module][1], f"{module} imports mlflow; go through tracking (or registry)"


def test_the_checks_catch_what_they_should(tmp_path):
    "The parser sees imports inside functions, relative ones and subpackages (a check that cannot fail checks nothing)."
    global PKG
    pkg = tmp_path / "mltrain_nb"
    (pkg / "server").mkdir(parents=True)
    (pkg / "__init__.py").write_text('_LAZY = {"MLTrainingEngine": "engine"}\n')
    (pkg / "engine.py").write_text("def f():\n    from .panels import x\n    import mlflow\n")
    (pkg / "panels.py").write_text("from mltrain_nb import MLTrainingEngine\n")
    (pkg / "server" / "app.py").write_text("from ..engine import f\nfrom . import db\n")
    (pkg / "server" / "db.py").write_text("")
    saved, PKG = PKG, pkg
    try:
        assert imports(pkg / "engine.py") == ({"panels"}, {"mlflow"})
        assert imports(pkg / "panels.py")[0] == {"engine"}            # a lazy root name resolves to its module
        assert imports(pkg / "server" / "app.py")[0] == {"engine", "server.db"}
        assert table_key("server.app", LAYERS) == "server" and table_key("nothere", LAYERS) is None
    finally:
        PKG = saved
