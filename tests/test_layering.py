"""The package's imports run one way (docs/architecture.md, "Layers").

The graph is read here from the source with ``ast``: every ``import`` and ``from ...
import`` in a module, at module level, under ``if TYPE_CHECKING:`` or inside a function,
counts as an edge, because a circle dodged by a function-local import is still a circle.
``fastcommerce/__init__.py`` (the package face, which re-exports) is left out as a target,
as an import of ``fastcommerce`` itself names no one module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import fastcommerce
from fastcommerce.plugins import BUILTIN_PLUGINS, collect, make_plugin_manager
from fastcommerce.settings import Settings

ROOT = Path(fastcommerce.__file__).parent
PACKAGE = ROOT.name
MAX_LINES = 600

FUNCTION_LOCAL_ALLOWED = {
    # PEP 562 lookup of fastcommerce.reports.revenue and the like: plugins imports the
    # hookspecs, which import reports.base, so this package is still loading whenever
    # plugins is.
    ("fastcommerce.reports", "fastcommerce.plugins"),
    # PEP 562 lookup of OrderProcessor: `python -m fastcommerce.compat.order_processor`
    # must not import that module twice.
    ("fastcommerce.compat", "fastcommerce.compat.order_processor"),
}
"""``(module, imported module)``: the only function-local imports of our own modules."""

CORE_NAMING_BUILTIN_TABLES = {
    # health's freshness reads the newest *valid* order and inventory times and the
    # quarantined counts from the built-in projections (docs/architecture.md, what is left).
    "fastcommerce.monitoring.health",
    # the dashboard's default date range is the revenue table's (to be read through the
    # revenue report's declaration instead: issue 17's closing note)
    "fastcommerce.dashboard.data",
}
"""Core modules that still name a built-in projection's table by string literal."""


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(ROOT.rglob("*.py")):
        parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of ours that ``name`` (a module, or a name in one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            stem = ".".join(base + ([node.module] if node.module else []))
        else:
            stem = node.module or ""
        names = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names]
    found = []
    for name in names:
        owner = _owner(name) if name.split(".")[0] == PACKAGE else None
        if owner and owner not in (module, PACKAGE):
            found.append(owner)
    return found


def _imports() -> list[tuple[str, str, bool]]:
    """``(module, imported module, function-local)`` for every import of ours."""
    edges = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        local: set[int] = set()
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                local.update(id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.extend((module, t, id(node) in local) for t in _targets(module, node))
    return edges


IMPORTS = _imports()
GRAPH: dict[str, set[str]] = {m: set() for m in MODULES}
for _m, _t, _local in IMPORTS:
    GRAPH[_m].add(_t)


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _is_builtin(module: str) -> bool:
    return module == f"{PACKAGE}.builtins" or module.startswith(f"{PACKAGE}.builtins.")


def test_the_graph_is_read():
    """The check sees the imports it is meant to see (a reader that found none would pass
    every test below)."""
    assert ("fastcommerce.pipeline", "fastcommerce.plugins") in {(m, t) for m, t, _ in IMPORTS}
    assert ("fastcommerce.builtins.sales", "fastcommerce.projections") in {(m, t) for m, t, _ in IMPORTS}
    assert len(MODULES) > 50


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert _circles(GRAPH) == []


def test_the_core_imports_no_builtin():
    """Built-ins are plugins like any other: only plugins.py names them (as the module
    names it registers), and nothing else in the core imports one."""
    wrong = sorted((m, t) for m, t, _ in IMPORTS if _is_builtin(t) and not _is_builtin(m))
    assert wrong == []
    assert all(name in MODULES and _is_builtin(name) for name in BUILTIN_PLUGINS)


def test_function_local_imports_only_where_needed():
    local = {(m, t) for m, t, is_local in IMPORTS if is_local}
    assert local <= FUNCTION_LOCAL_ALLOWED


def test_no_module_over_600_lines():
    long = {m: n for m, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def _builtin_tables() -> set[str]:
    pm = make_plugin_manager(load_entrypoints=False)
    tables = {t for _, p in collect(pm, "register_projections", settings=Settings()) for t in p.tables}
    assert {"sales_daily_revenue", "inventory_current", "quality_problems"} <= tables
    return tables


def _tables_named(path: Path, tables: set[str]) -> set[str]:
    word = re.compile(r"\b(" + "|".join(sorted(map(re.escape, tables))) + r")\b")
    named = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            named.update(word.findall(node.value))
    return named


def test_each_builtin_table_is_named_only_where_it_is_declared():
    """A built-in projection's table is declared once, in its module, and read through
    that declaration: the core (reports/ above all) names none by string literal."""
    tables = _builtin_tables()
    naming = {m for m, path in MODULES.items() if not _is_builtin(m) and _tables_named(path, tables)}
    assert naming <= CORE_NAMING_BUILTIN_TABLES
    assert not any(m.startswith(f"{PACKAGE}.reports") for m in naming)


def test_the_table_check_sees_a_literal(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('SQL = "SELECT * FROM sales_daily_revenue"\nOTHER = "sales_daily_revenue_x"\n')
    assert _tables_named(sample, _builtin_tables()) == {"sales_daily_revenue"}
