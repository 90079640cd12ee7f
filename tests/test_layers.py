"""The architecture's rules, checked on the source (``docs/architecture.md``, "Layers").

Three rules over the packages ``simulator/``, ``auditors/`` and ``dashboards/``, read with
:mod:`ast` (nothing is imported or run):

* **Direction.** ``dashboards → auditors → simulator``: the simulator imports neither auditors nor
  dashboards, and auditors do not import dashboards. Every import counts, wherever it is written:
  inside a function, under ``if TYPE_CHECKING:`` or at module level, because each is a dependency
  of the lower layer on the upper one (the upper layers plug into the ``iterdeploy`` command through
  entry points instead).
* **No import cycles.** Between the modules of the project, counting only the imports Python runs
  when a module is loaded: those at module level (a class body included), not inside a function and
  not under ``if TYPE_CHECKING:`` (which never runs). An import is an edge to the module it names
  (``from package import name`` names the submodule when ``name`` is one), not to the packages
  above it that Python initialises on the way, so a package ``__init__`` re-exporting its own
  submodules is not a cycle.
* **SQL only in the store.** Outside ``simulator/store/``, no SQL text (a string that starts with an
  upper-case SQL statement), no ``.conn`` (the store's database connection), no cursor call
  (``execute``, ``executemany``, ``executescript``, ``iterdump``), no ``.query(...)`` call (the
  reader's escape hatch for tests and ad-hoc analysis), and nothing from ``sqlite3`` but its
  exception classes: every question for the store is a named, documented method of
  ``iterdeploy.simulator.store`` (``RunQueries``).

Each failure names the file, the line and the rule. The last tests plant one violation of each kind
in a tiny package under ``tmp_path`` and check that the checker reports exactly those, so the rules
cannot pass because the checker looks at nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PACKAGES: tuple[str, ...] = ("simulator", "auditors", "dashboards")
"""The project's packages (the repository's folders), lowest layer first."""

TOP = "iterdeploy"
"""The one top-level package they are imported under (``iterdeploy.simulator``, ...)."""


def layer(module: str) -> str:
    """The package a dotted module name belongs to: ``iterdeploy.auditors.cli`` → ``auditors``."""
    return module.split(".")[1]

MAY_IMPORT: dict[str, frozenset[str]] = {
    "simulator": frozenset(),
    "auditors": frozenset({"simulator"}),
    "dashboards": frozenset({"simulator", "auditors"}),
}
"""Package → the other project packages its modules may import."""

STORE = "iterdeploy.simulator.store"
"""The one package that may hold SQL and touch the database."""

SQL_START = re.compile(
    r"\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|PRAGMA|WITH)\s+\S"
)
"""A string that starts like an SQL statement (keywords in upper case, as the store writes them)."""

CURSOR_CALLS = frozenset({"execute", "executemany", "executescript", "iterdump"})
"""Methods of a database connection or cursor."""

SQLITE_ERRORS = frozenset({
    "Error", "Warning", "DatabaseError", "OperationalError", "IntegrityError", "ProgrammingError",
    "InterfaceError", "DataError", "NotSupportedError", "InternalError",
})
"""What a module outside the store may take from ``sqlite3``: its exceptions, to report a damaged
store file, never what opens or runs a database."""


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule at one place."""

    path: str
    """File, relative to the checked root."""
    line: int
    rule: str
    """``direction``, ``cycle`` or ``sql``."""
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.detail}"


@dataclass(frozen=True)
class Import:
    """One import statement's target."""

    target: str
    """The module it names (resolved: relative imports made absolute, submodules recognised)."""
    line: int
    runs_on_load: bool
    """True for a module-level import outside ``if TYPE_CHECKING:``: Python runs it on load."""


def modules(root: Path, packages: Sequence[str] = PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``: dotted name → file."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([TOP, *parts])] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    tree: ast.Module,
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement with whether it runs when the module is loaded."""

    def visit(node: ast.AST, on_load: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, on_load
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, False)
            for child in node.orelse:
                yield from visit(child, on_load)
            return
        inside_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, on_load and not inside_function)

    yield from visit(tree, True)


def imports(module: str, path: Path, known: Mapping[str, Path]) -> list[Import]:
    """The project modules ``module`` (in ``path``) imports; modules outside ``known`` (the
    standard library, third-party packages) are left out."""
    is_package = path.name == "__init__.py"
    out: list[Import] = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def longest_known(name: str) -> str | None:
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in known:
                return ".".join(parts[:k])
        return None

    for node, on_load in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [longest_known(alias.name) for alias in node.names]
        else:
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else longest_known(source)
                for alias in node.names
            ]
        for target in dict.fromkeys(targets):
            if target is not None and target != module:
                out.append(Import(target, node.lineno, on_load))
    return out


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def direction_violations(
    root: Path, may_import: Mapping[str, frozenset[str]] = MAY_IMPORT
) -> list[Violation]:
    """Imports of a higher layer from a lower one (every import, wherever written)."""
    known = modules(root, tuple(may_import))
    out = []
    for module, path in known.items():
        package = layer(module)
        for imp in imports(module, path, known):
            other = layer(imp.target)
            if other != package and other not in may_import[package]:
                out.append(Violation(
                    _rel(path, root), imp.line, "direction",
                    f"{module} imports {imp.target}: {package} must not import {other} "
                    "(layers: dashboards → auditors → simulator)",
                ))
    return sorted(out)


def _strongly_connected(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` (iterative, deterministic order)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, int]] = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = graph.get(node, ())
            if i < len(successors):
                work.append((node, i + 1))
                nxt = successors[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def import_cycles(root: Path, packages: Sequence[str] = PACKAGES) -> list[Violation]:
    """One violation per import that closes a cycle of load-time imports between modules."""
    known = modules(root, packages)
    edges: dict[str, dict[str, int]] = {}
    for module, path in known.items():
        for imp in imports(module, path, known):
            if imp.runs_on_load:
                edges.setdefault(module, {}).setdefault(imp.target, imp.line)
    graph = {m: sorted(targets) for m, targets in edges.items()}
    out = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        members = set(component)
        cycle = " ↔ ".join(component)
        for module in component:
            for target, line in sorted(edges.get(module, {}).items()):
                if target in members:
                    out.append(Violation(
                        _rel(known[module], root), line, "cycle",
                        f"{module} imports {target} on load, and the modules {cycle} import each "
                        "other in a cycle; move what they share into a module both import",
                    ))
    return sorted(out)


def _sql_in(node: ast.AST) -> str | None:
    """The start of the SQL text ``node`` holds, if it is a string (or f-string) of SQL."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values
                       if isinstance(v, ast.Constant | ast.FormattedValue))
    else:
        return None
    return " ".join(text.split())[:50] if SQL_START.match(text) else None


def sql_violations(
    root: Path, packages: Sequence[str] = PACKAGES, store: str | None = STORE
) -> list[Violation]:
    """SQL text and database access outside ``store`` (``None``: everywhere)."""
    out = []
    for module, path in modules(root, packages).items():
        if store is not None and (module == store or module.startswith(store + ".")):
            continue
        rel = _rel(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        strings_in_f = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            problem = None
            if id(node) not in strings_in_f and (sql := _sql_in(node)) is not None:
                problem = f"SQL text {sql!r}"
            elif isinstance(node, ast.Attribute) and node.attr == "conn":
                problem = "uses a store's database connection (.conn)"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in CURSOR_CALLS:
                    problem = f"calls .{node.func.attr}(), a database cursor's method"
                elif node.func.attr == "query":
                    problem = "calls .query(), the reader's escape hatch for tests and ad-hoc analysis"
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "sqlite3" and node.attr not in SQLITE_ERRORS):
                problem = f"uses sqlite3.{node.attr}"
            if isinstance(node, ast.ImportFrom) and node.module == "sqlite3":
                names = [a.name for a in node.names if a.name not in SQLITE_ERRORS]
                if names:
                    problem = f"imports {', '.join(names)} from sqlite3"
            if problem is not None:
                out.append(Violation(
                    rel, getattr(node, "lineno", 0), "sql",
                    f"{problem}: only {store or 'the store'} talks to the database; add a named "
                    "method there (RunQueries) and call it",
                ))
    return sorted(out)


def _report(violations: Sequence[Violation]) -> str:
    return "\n".join(str(v) for v in violations)


# -- the project ---------------------------------------------------------------------------------


def test_the_checker_sees_the_project() -> None:
    """Non-vacuous: every package is found, with its imports, and the store's own SQL is seen."""
    known = modules(REPO)
    for package in PACKAGES:
        assert sum(1 for m in known if layer(m) == package) >= 3, package
    features = "iterdeploy.auditors.core.features"
    assert any(i.target == "iterdeploy.simulator.store" for i in imports(features, known[features], known))
    in_store = [v for v in sql_violations(REPO, store=None) if v.path.startswith("simulator/store/")]
    assert len(in_store) >= 10, _report(in_store)


def test_layers_import_downwards_only() -> None:
    violations = direction_violations(REPO)
    assert not violations, "\n" + _report(violations)


def test_no_import_cycles() -> None:
    violations = import_cycles(REPO)
    assert not violations, "\n" + _report(violations)


def test_no_sql_outside_the_store() -> None:
    violations = sql_violations(REPO)
    assert not violations, "\n" + _report(violations)


# -- the checker, on planted violations ----------------------------------------------------------


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


PLANTED: dict[str, str] = {
    "simulator/__init__.py": "",
    "simulator/store/__init__.py": "",
    "simulator/store/reader.py": (
        "import sqlite3\n"
        "def rows(conn: sqlite3.Connection):\n"
        "    return conn.execute('SELECT a FROM t').fetchall()\n"
    ),
    # direction: an upward import inside a function, and one under TYPE_CHECKING
    "simulator/up.py": "def f():\n    from iterdeploy.auditors import x\n    return x\n",
    "simulator/typed.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import iterdeploy.dashboards.page\n"
    ),
    # a cycle of load-time imports, one of them relative
    "simulator/a.py": "from iterdeploy.simulator import b\n",
    "simulator/b.py": "from . import a\n",
    # not cycles: one side imports only under TYPE_CHECKING, or only inside a function
    "simulator/c.py": "from iterdeploy.simulator.d import D\n",
    "simulator/d.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from iterdeploy.simulator.c import C\n"
        "def f():\n"
        "    from iterdeploy.simulator import c\n"
        "    return c\n"
    ),
    "auditors/__init__.py": "from iterdeploy.simulator import a\n",
    "auditors/x.py": (
        "def f(reader):\n"
        "    return reader.conn.execute(\n"
        "        'SELECT a '\n"
        "        'FROM t')\n"
    ),
    "dashboards/__init__.py": "",
    "dashboards/page.py": (
        "import sqlite3\n"
        "from sqlite3 import OperationalError, connect\n"
        "import iterdeploy.auditors.x\n"
        "def g(reader, column):\n"
        "    try:\n"
        "        return reader.query(f'SELECT {column} FROM t')\n"
        "    except sqlite3.Error:\n"
        "        return sqlite3.connect(':memory:')\n"
        "def h():\n"
        "    '''Select the rows from the table (prose, not SQL).'''\n"
        "    return OperationalError\n"
    ),
}


def test_checker_catches_planted_direction_violations(tmp_path: Path) -> None:
    _write(tmp_path, PLANTED)
    found = [(v.path, v.line, v.rule) for v in direction_violations(tmp_path)]
    assert found == [("simulator/typed.py", 3, "direction"), ("simulator/up.py", 2, "direction")]
    assert "simulator must not import dashboards" in str(direction_violations(tmp_path)[0])


def test_checker_catches_a_planted_cycle(tmp_path: Path) -> None:
    _write(tmp_path, PLANTED)
    found = [(v.path, v.line, v.rule) for v in import_cycles(tmp_path)]
    assert found == [("simulator/a.py", 1, "cycle"), ("simulator/b.py", 1, "cycle")]
    assert "iterdeploy.simulator.a ↔ iterdeploy.simulator.b" in str(import_cycles(tmp_path)[0])


def test_checker_catches_planted_sql(tmp_path: Path) -> None:
    _write(tmp_path, PLANTED)
    found = [(v.path, v.line, v.detail.split(":")[0]) for v in sql_violations(tmp_path)]
    assert found == [
        ("auditors/x.py", 2, "calls .execute(), a database cursor's method"),
        ("auditors/x.py", 2, "uses a store's database connection (.conn)"),
        ("auditors/x.py", 3, "SQL text 'SELECT a FROM t'"),
        ("dashboards/page.py", 2, "imports connect from sqlite3"),
        ("dashboards/page.py", 6, "SQL text 'SELECT {} FROM t'"),
        ("dashboards/page.py", 6, "calls .query(), the reader's escape hatch for tests and ad-hoc analysis"),
        ("dashboards/page.py", 8, "uses sqlite3.connect"),
    ]
    # the store itself may: its SQL is reported only when the store is not exempted
    assert {v.path for v in sql_violations(tmp_path, store=None)} >= {"simulator/store/reader.py"}


def old_name_imports(root: Path, packages: Sequence[str] = PACKAGES) -> list[Violation]:
    """Imports of a package by its bare folder name (``import simulator``, ``from auditors.x
    import y``) anywhere under ``root``: only ``iterdeploy.…`` exists in an installed wheel, and the
    checks above would take such an import for a third-party one and never see it."""
    out = []
    for path in sorted(root.rglob("*.py")):
        if ".venv" in path.parts or "iterdeploy" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            for name in names:
                if name.split(".")[0] in packages:
                    out.append(Violation(_rel(path, root), node.lineno, "old-name",
                                         f"imports {name}: write iterdeploy.{name}"))
    return sorted(out)


def test_every_import_names_the_iterdeploy_package() -> None:
    violations = old_name_imports(REPO)
    assert not violations, "\n" + _report(violations)


def test_the_old_name_check_sees_an_old_import(tmp_path: Path) -> None:
    _write(tmp_path, {"tests/t.py": "import simulator.store\nfrom auditors import x\n",
                      "ok.py": "from iterdeploy.simulator import store\n"})
    assert [(v.path, v.line) for v in old_name_imports(tmp_path)] == [("tests/t.py", 1), ("tests/t.py", 2)]
