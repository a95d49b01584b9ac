"""The package's shape: data flows down once, no module imports one above it (no import circle,
counting the imports inside functions too), and no private name crosses a module boundary."""
import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "bot"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]):
    """(module imported, names taken from it) for every import of the package's own modules."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub, []) if sub in known else (base, [alias.name])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot":
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            yield from ((a.name, []) for a in node.names if a.name.split(".")[0] == "bot")


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {target for target, _ in imports(name, path, known) if target in known and target != name}
            for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    edges = graph()
    assert {"bot.build", "bot.index", "bot.stores.folder", "bot.retrieval"} <= edges.keys()
    assert "bot.index" in edges["bot.retrieval"]  # the walk sees the imports it should
    assert cycles(edges) == []


def test_the_index_imports_nothing_above_it_and_builds_nothing():
    # The in-memory index answers; building it is build.py's, keeping it the stores'.
    assert graph()["bot.index"] <= {"bot.errors", "bot.records"}
    for reader in ("bot.retrieval", "bot.refusal"):
        assert not graph()[reader] & {"bot.build", "bot.vectors", "bot.stores", "bot.stores.folder",
                                      "bot.stores.postgres"}


def test_no_private_name_crosses_a_module():
    known = modules()
    crossing = [f"{name} imports {target}.{taken}" for name, path in known.items()
                for target, names in imports(name, path, known) for taken in names
                if taken.startswith("_") and target != name]
    assert crossing == []


def test_the_check_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
