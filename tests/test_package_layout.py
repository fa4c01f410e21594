"""The layout a newcomer relies on (README "Layout"): studio/core imports no modality package, no module of
studio/ imports itself back through others, and nothing loads code by file path or edits sys.path.

A static walk of every import statement, those inside functions included (they run too, only later)."""
from __future__ import annotations

import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
MODALITIES = ("image", "text", "speech", "video", "music", "crossmodal", "lora")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def studio_modules() -> dict[str, Path]:
    return {module_name(p): p for p in (ROOT / "studio").rglob("*.py")}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The studio modules a file imports (`from studio.x import y` counts studio.x.y when that is a module)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known and name != this}


def import_graph() -> dict[str, set[str]]:
    known = studio_modules()
    return {name: imports(path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, each found once from its first module (depth-first search)."""
    found, done = [], set()

    def visit(node, stack):
        if node in stack:
            found.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            # a package's __init__ importing its own modules is how a package presents them, not a cycle
            if not nxt.startswith(node + "."):
                visit(nxt, stack + [node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    return found


def test_core_imports_no_modality():
    bad = {name: sorted(i for i in deps if i.split(".")[1] in MODALITIES)
           for name, deps in import_graph().items() if name.startswith("studio.core")}
    assert {k: v for k, v in bad.items() if v} == {}


def test_studio_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_nothing_loads_code_by_path_or_edits_sys_path():
    offenders = []
    for folder in ("studio", "scripts", "bench", "tests", "tabs"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for needle in ("spec_from_file_location", "sys.path.insert", "sys.path.append"):
                if needle in text and path != Path(__file__):
                    offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    """The checker itself: an import inside a function is an import (a cycle hidden there is still a cycle)."""
    known = studio_modules()
    source = ROOT / "studio" / "core" / "manager.py"
    assert "studio.core.loaders" in imports(source, known)
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


PAGE_FACADES = {"studio.api", "studio.api.web"}


def read_only_table(name: str, known: dict[str, Path]) -> bool:
    return "Read-only table" in (ast.get_docstring(ast.parse(known[name].read_text(encoding="utf-8"))) or "")


def tab_imports() -> dict[str, set[str]]:
    """{tab file: the studio modules it imports}, `from studio.api import web` counted as studio.api.web."""
    known = studio_modules()
    found = {}
    for path in sorted((ROOT / "tabs").glob("*.py")):
        names = imports(path, known)
        # `from studio.api.web import settings` also "imports" studio.api.web.settings when that were a module;
        # keep the deepest module named by each statement only
        found[path.name] = {n for n in names if not any(o != n and o.startswith(n + ".") for o in names)}
    return found


def test_tabs_import_only_the_api_and_read_only_tables():
    """Studio's internals move without touching tabs/: a tab reaches them through studio.api, studio.api.web or a
    module that says it is a read-only table."""
    known = studio_modules()
    bad = {tab: sorted(n for n in names if n not in PAGE_FACADES and not read_only_table(n, known))
           for tab, names in tab_imports().items()}
    assert {k: v for k, v in bad.items() if v} == {}
    assert any("studio.api.web" in names for names in tab_imports().values())  # the walk sees the tabs' imports


def test_web_exports_what_the_tabs_use_and_no_more():
    """studio.api.web is the page's surface: every name in its __all__ is imported by some tab."""
    from studio.api import web
    used = set()
    for path in (ROOT / "tabs").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "studio.api.web":
                used.update(alias.name for alias in node.names)
    assert sorted(set(web.__all__) - used) == []
    assert sorted(used - set(web.__all__)) == []
