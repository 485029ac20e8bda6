"""The layers of the Python code, read from the source: nothing in the edge app imports the CLI or the
local fakes, the database port's interface imports no adapter, and no module-level import cycle exists
anywhere.

Module-level imports only, except for the fakes: an import inside a function runs when it is called (never
during another module's import), and one under `if TYPE_CHECKING:` never runs. The fakes must never run in
production, so for them every import in the edge app counts, and so does every module it reaches."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where each importable package's source lives (thinbase/functions and thinbase/cli are symlinks).
PACKAGES = {
    "thinbase.functions": ROOT / "supabase" / "functions",
    "thinbase.cli": ROOT / "cli",
    "thinbase": ROOT / "thinbase",
}


def _module_name(path: Path) -> str:
    for package, directory in PACKAGES.items():
        if path.is_relative_to(directory):
            parts = [package, *path.relative_to(directory).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    raise AssertionError(path)


def _sources() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, directory in PACKAGES.items():
        for path in directory.rglob("*.py"):
            relative = path.relative_to(directory).parts
            if "__pycache__" in relative or (package == "thinbase" and relative[0] in ("functions", "cli")):
                continue  # thinbase/functions and thinbase/cli are the other two packages, linked
            found[_module_name(path)] = path
    return found


def _top_level_imports(path: Path, module: str, known: set[str], *, anywhere: bool = False) -> set[str]:
    """Our modules that `module` imports at module level (`anywhere`: also inside functions and under
    TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    imported: set[str] = set()
    for node in ast.walk(tree) if anywhere else tree.body:
        if not anywhere and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            imported.add(base)
            imported.update(f"{base}.{alias.name}" for alias in node.names)
    # Keep our own modules; `from pkg import name` names a module only when that module exists.
    return {name for name in imported if name in known and name != module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {module: _top_level_imports(path, module, known) for module, path in sources.items()}


def test_the_edge_app_never_imports_the_cli(graph: dict[str, set[str]]) -> None:
    offenders = {
        module: sorted(name for name in imports if name.startswith("thinbase.cli"))
        for module, imports in graph.items()
        if module.startswith("thinbase.functions")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def reachable(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    """Every module importing `start` loads, `start` included."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def fakes_reached(graph: dict[str, set[str]], anywhere: dict[str, set[str]]) -> dict[str, list[str]]:
    """Edge modules that import thinbase.fakes, anywhere in their source or through the modules they load."""
    edge = {module for module in graph if module.startswith("thinbase.functions")}
    offenders: dict[str, list[str]] = {}
    for module in sorted(edge):
        names = anywhere.get(module, set()) | reachable(graph, {module})
        fakes = sorted(name for name in names if (name + ".").startswith("thinbase.fakes."))
        if fakes:
            offenders[module] = fakes
    return offenders


def test_the_edge_app_never_imports_the_fakes(graph: dict[str, set[str]]) -> None:
    sources = _sources()
    assert "thinbase.fakes.ai" in sources  # the fakes are in the graph, so the check can see them
    known = set(sources)
    anywhere = {
        module: _top_level_imports(path, module, known, anywhere=True)
        for module, path in sources.items()
        if module.startswith("thinbase.functions")
    }
    assert fakes_reached(graph, anywhere) == {}


def test_the_fakes_check_sees_direct_indirect_and_late_imports(tmp_path: Path) -> None:
    """Planted violations: an import inside a function, and one through a shared module."""
    (tmp_path / "late.py").write_text("def f() -> None:\n    from thinbase.fakes import mail\n")
    (tmp_path / "shared.py").write_text("import thinbase.fakes.ai\n")
    known = {"thinbase.fakes", "thinbase.fakes.ai", "thinbase.fakes.mail", "thinbase.shared"}
    late = _top_level_imports(tmp_path / "late.py", "thinbase.functions.late", known, anywhere=True)
    assert _top_level_imports(tmp_path / "late.py", "thinbase.functions.late", known) == set()
    graph = {
        "thinbase.functions.late": set(),
        "thinbase.functions.app": {"thinbase.shared"},
        "thinbase.shared": _top_level_imports(tmp_path / "shared.py", "thinbase.shared", known),
    }
    assert fakes_reached(graph, {"thinbase.functions.late": late}) == {
        "thinbase.functions.app": ["thinbase.fakes.ai"],
        "thinbase.functions.late": ["thinbase.fakes", "thinbase.fakes.mail"],
    }


def test_the_port_is_a_leaf(graph: dict[str, set[str]]) -> None:
    assert not {name for name in graph["thinbase.db.port"] if name.startswith("thinbase.db.")}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, str] = {}  # "visiting" or "done"
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "visiting"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "visiting":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert {"thinbase.functions.app", "thinbase.cli.main", "thinbase.local.stack"} <= set(graph)
    assert find_cycles(graph) == []


def test_the_checker_sees_a_cycle_and_a_cli_import(tmp_path: Path) -> None:
    """A planted violation, so the tests above can fail."""
    (tmp_path / "a.py").write_text("from thinbase.functions import b\nfrom thinbase.cli import main\n")
    (tmp_path / "b.py").write_text("import thinbase.functions.a\n")
    known = {"thinbase.functions.a", "thinbase.functions.b", "thinbase.cli.main"}
    a = _top_level_imports(tmp_path / "a.py", "thinbase.functions.a", known)
    b = _top_level_imports(tmp_path / "b.py", "thinbase.functions.b", known)
    assert a == {"thinbase.functions.b", "thinbase.cli.main"}
    assert b == {"thinbase.functions.a"}
    assert find_cycles({"thinbase.functions.a": a, "thinbase.functions.b": b}) == [
        ["thinbase.functions.a", "thinbase.functions.b", "thinbase.functions.a"]
    ]
