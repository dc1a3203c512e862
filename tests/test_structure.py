"""The kit's shape: no import cycle between its modules; the test suite's order."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("intro2ai", "autograder", "bench", "notebooks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Kit modules that ``path`` imports when it is imported (imports inside functions run
    later, so they cannot make a cycle at import time)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    names = {_module_name(p): p for p in files}
    return {n: _top_level_imports(p, n, set(names)) for n, p in names.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_kits_imports():
    graph = _graph()
    assert "autograder.tasks" in graph["autograder.grader"]
    assert "intro2ai.grading_rules" in graph["autograder.grader"]
    assert "intro2ai._fast_plan" in graph["intro2ai.fast_layers"]


def test_no_import_cycle_between_kit_modules():
    # Importing a submodule always runs its parent packages first (Python allows the package
    # half-initialised then): that edge is not a cycle of the kit's design, so it is dropped.
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in _graph().items()}
    assert _cycles(graph) == []


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_long_modules_run_first_and_exist():
    from conftest import LONG_MODULES

    here = Path(__file__).parent
    assert [m for m in LONG_MODULES if not (here / m).is_file()] == []
    assert "--no-loadscope-reorder" in (here.parent / "Makefile").read_text(encoding="utf-8")
