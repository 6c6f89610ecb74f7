"""The package layout: every module imports, and no module imports itself through others."""

import ast
import importlib
import pkgutil
from pathlib import Path

import apps
import raft

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    names = []
    for pkg in (raft, apps):
        names.append(pkg.__name__)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + ".")]
    return sorted(names)


def _path(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _imports(module: str, known: set[str]) -> set[str]:
    """Project modules that `module` imports anywhere (top level or inside functions)."""
    tree = ast.parse(_path(module).read_text())
    out: set[str] = set()
    package = module if _path(module).name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in known else base)
    return {m for m in out if m in known and m != module}


def test_every_module_imports() -> None:
    for name in _modules():
        importlib.import_module(name)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_find_cycle_sees_a_lazy_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    known = set(_modules())
    cycle = find_cycle({m: _imports(m, known) for m in known})
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])



LINE_LIMIT = 450


def over_limit(paths: list[Path], root: Path, limit: int = LINE_LIMIT) -> list[str]:
    """`path (n lines)` for every file longer than `limit` lines, paths relative to `root`."""
    counts = {p: len(p.read_text().splitlines()) for p in paths}
    return [f"{p.relative_to(root)} ({n} lines)" for p, n in sorted(counts.items()) if n > limit]


def test_over_limit_names_a_long_file(tmp_path) -> None:
    long, short = tmp_path / "long.py", tmp_path / "short.py"
    long.write_text("x = 1\n" * (LINE_LIMIT + 1))
    short.write_text("x = 1\n" * LINE_LIMIT)
    assert over_limit([long, short], tmp_path) == [f"long.py ({LINE_LIMIT + 1} lines)"]


def test_no_module_over_limit() -> None:
    too_long = over_limit([_path(m) for m in _modules()], ROOT)
    assert not too_long, f"split these modules (at most {LINE_LIMIT} lines each): " + ", ".join(too_long)


def test_one_document_type() -> None:
    homes = [m for m in _modules() if any(
        isinstance(n, ast.ClassDef) and n.name == "Document" for n in ast.walk(ast.parse(_path(m).read_text()))
    )]  # fmt: skip
    assert homes == ["raft.documents"]
