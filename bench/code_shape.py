"""The shape of the code a new engineer reads, measured from the files (`ast`, `json`), as issue 30 tabled it.

    python bench/code_shape.py            # prints the table, writes bench/results/code_shape.json
    python bench/code_shape.py --check    # exits 1 when a limit below is broken (the CI runs this)

Limits: `@patch` only inside the module that defines the class, no module over 6,000 AST nodes, no function over
60 lines, no exported notebook cell over 60 lines, median exported cell at most 12 lines, no line over 100 characters
in the library (but the `__all__` nbdev writes, wrapped at 120 by nbdev itself).
"""
import ast
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG, NBS = ROOT / "mltrain_nb", ROOT / "nbs"
SKIP = {"_modidx.py"}
MAX_NODES, MAX_FUNC, MAX_CELL, MEDIAN_CELL, MAX_LINE = 6000, 60, 60, 12, 100


def modules():
    return sorted(p for p in PKG.rglob("*.py") if p.name not in SKIP)


def _nbdev_all(tree) -> set[int]:
    "0-based line numbers of the `__all__` nbdev writes (wrapped at 120 characters by nbdev itself)."
    for n in tree.body:
        if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in n.targets):
            return set(range(n.lineno - 1, n.end_lineno))
    return set()


def _is_patch(d) -> bool:
    if isinstance(d, ast.Call): d = d.func
    return isinstance(d, ast.Name) and d.id == "patch"


def _patched_elsewhere(tree) -> list[str]:
    "`@patch` functions whose class (the type of their first argument) this module does not define."
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    out = []
    for n in tree.body:
        if not isinstance(n, ast.FunctionDef) or not n.args.args: continue
        if not any(map(_is_patch, n.decorator_list)): continue
        ann = n.args.args[0].annotation
        if isinstance(ann, ast.Constant): names = [ann.value]
        else: names = [x.id for x in ast.walk(ann) if isinstance(x, ast.Name)]
        out += [f"{n.name} on {c}" for c in names if c not in classes]
    return out


def module_stats():
    "Per module: AST nodes, functions over the limit, long lines, lines, `@patch` uses."
    out = {}
    for p in modules():
        src = p.read_text()
        tree = ast.parse(src)
        funcs = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        lines = src.splitlines()
        written = [l for i, l in enumerate(lines) if i not in _nbdev_all(tree)]
        out[str(p.relative_to(PKG))] = dict(
            nodes=sum(1 for _ in ast.walk(tree)), lines=len(lines),
            long_lines=sum(len(l) > MAX_LINE for l in lines), max_line=max(map(len, lines), default=0),
            long_written=sum(len(l) > MAX_LINE for l in written), max_written=max(map(len, written), default=0),
            long_functions=[f for f in funcs if f[1] > MAX_FUNC],
            patches=sum(l.lstrip().startswith("@patch") for l in lines),
            patched_elsewhere=_patched_elsewhere(tree))
    return out


def _directives(src):
    return {l[3:].split()[0] for l in src.splitlines() if l.startswith("#| ") and len(l) > 3}


def cell_stats():
    "Exported cells: lines and top-level definitions; examples (code cells not exported): how many keep outputs."
    exported, defs, examples, kept, long_cells = [], [], 0, 0, []
    for nb in sorted(NBS.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts: continue
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code": continue
            src = "".join(cell["source"])
            flags = _directives(src)
            body = [l for l in src.splitlines() if not l.startswith("#| ")]
            if flags & {"export", "exporti", "exports"}:
                exported.append(len(body))
                if len(body) > MAX_CELL: long_cells.append(f"{nb.relative_to(NBS)}: {len(body)} lines")
                try: tree = ast.parse("\n".join(body))
                except SyntaxError: continue
                defs.append(sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                                for n in tree.body))
            elif not flags & {"default_exp", "hide"} and body:
                examples += 1
                kept += bool(cell.get("outputs"))
    return dict(exported_cells=len(exported), median_cell=statistics.median(exported),
                max_cell=max(exported), cells_over_limit=long_cells,
                defs_per_cell=round(statistics.mean(defs), 2), max_defs=max(defs),
                examples=examples, examples_with_outputs=round(100 * kept / max(examples, 1), 1))


def summary():
    mods, cells = module_stats(), cell_stats()
    by_size = sorted(mods.items(), key=lambda kv: -kv[1]["nodes"])
    lines = sum(m["lines"] for m in mods.values())
    return dict(
        modules=len(mods), largest=[(k, v["nodes"]) for k, v in by_size[:10]],
        over_10k=[k for k, v in by_size if v["nodes"] > 10_000],
        over_6k=[k for k, v in by_size if v["nodes"] > MAX_NODES],
        functions_over_60=sorted((f"{k}:{n}", l) for k, v in mods.items() for n, l in v["long_functions"]),
        long_line_pct=round(100 * sum(m["long_lines"] for m in mods.values()) / lines, 1),
        max_line=max(m["max_line"] for m in mods.values()),
        long_written=sum(m["long_written"] for m in mods.values()),
        max_written=max(m["max_written"] for m in mods.values()),
        patches=sum(m["patches"] for m in mods.values()),
        patched_elsewhere=[f"{k}: {x}" for k, v in mods.items() for x in v["patched_elsewhere"]], **cells)


def problems(s):
    out = [f"module over {MAX_NODES} AST nodes: {m}" for m in s["over_6k"]]
    out += [f"function over {MAX_FUNC} lines: {f} ({n})" for f, n in s["functions_over_60"]]
    out += [f"exported cell over {MAX_CELL} lines: {c}" for c in s["cells_over_limit"]]
    out += [f"@patch outside the module that defines the class: {x}" for x in s["patched_elsewhere"]]
    if s["median_cell"] > MEDIAN_CELL: out.append(f"median exported cell {s['median_cell']} > {MEDIAN_CELL} lines")
    if s["max_written"] > MAX_LINE:
        out.append(f"{s['long_written']} library lines over {MAX_LINE} characters (nbdev's `__all__` aside)")
    return out


if __name__ == "__main__":
    s = summary()
    if "--check" in sys.argv:
        found = problems(s)
        print("\n".join(found) or "code shape: every limit holds")
        sys.exit(1 if found else 0)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "code_shape.json").write_text(json.dumps(s, indent=1) + "\n")
    print(f"largest modules (AST nodes): {s['largest'][:5]}")
    print(f"modules over 10k: {len(s['over_10k'])}, over 6k: {s['over_6k']}")
    print(f"functions over 60 lines: {len(s['functions_over_60'])}")
    print(f"exported cells: {s['exported_cells']}, median {s['median_cell']}, max {s['max_cell']}, "
          f"over 60: {len(s['cells_over_limit'])}, definitions per cell {s['defs_per_cell']} (max {s['max_defs']})")
    print(f"examples with kept outputs: {s['examples_with_outputs']}% of {s['examples']}")
    print(f"library lines over 100 characters: {s['long_line_pct']}% (max {s['max_line']}); "
          f"without nbdev's __all__: {s['long_written']} (max {s['max_written']}); @patch: {s['patches']}")
