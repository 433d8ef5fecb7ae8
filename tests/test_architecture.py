"""The shape README's "Architecture" promises: imports point one way, no file or folder cycles, small modules and
small broker roles."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("relay", "workers", "schema")
WORKERS_MAY_USE = ("relay.broker", "relay.settings")
ENTRY_POINTS = ("relay.cli", "relay.dev", "workers.main", "workers.__main__")
MAX_LINES = 300


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                parts = path.relative_to(ROOT).with_suffix("").parts
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def runtime_imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports when it runs (imports under `if TYPE_CHECKING:` are for types only)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                targets.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    resolved = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


@functools.cache
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: runtime_imports(name, path, known) for name, path in known.items()}


def test_schema_imports_neither_the_gateway_nor_the_workers() -> None:
    bad = [(m, t) for m, ts in graph().items() for t in ts if m.startswith("schema") and not t.startswith("schema")]
    assert bad == []


def test_workers_use_only_the_broker_and_settings_of_relay() -> None:
    bad = [
        (m, t)
        for m, ts in graph().items()
        for t in ts
        if m.startswith("workers") and m not in ENTRY_POINTS
        and t.startswith("relay") and not t.startswith(WORKERS_MAY_USE)
    ]  # fmt: skip
    assert bad == []


def test_the_gateway_never_imports_the_workers_outside_the_entry_points() -> None:
    bad = [
        (m, t) for m, ts in graph().items() for t in ts
        if m.startswith("relay") and m not in ENTRY_POINTS and t.startswith("workers")
    ]  # fmt: skip
    assert bad == []


def cycles(edges: dict[str, set[str]]) -> list[str]:
    """Every way back to a node through the arrows that leave it, as `a -> b -> a`."""
    found = []
    for start in edges:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for target in edges.get(node, ()):
                if target == start:
                    found.append(" -> ".join([*path, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph().items()}  # a package's own parent
    assert cycles(edges) == []


def test_no_module_is_over_300_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


def folder(name: str) -> str:
    """The folder (package) a module lives in: `workers.tools.loop` → `workers.tools`."""
    return name if modules()[name].name == "__init__.py" else name.rpartition(".")[0]


def test_no_folder_imports_itself_back_through_others() -> None:
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        if module in ENTRY_POINTS:  # they wire the gateway and the workers together, on purpose
            continue
        here = folder(module)
        edges.setdefault(here, set()).update(
            folder(t) for t in targets if folder(t) != here and not here.startswith(folder(t) + ".")
        )
    assert cycles(edges) == []


def test_the_broker_uses_nothing_of_relay_but_itself_and_settings() -> None:
    bad = [
        (m, t) for m, ts in graph().items() for t in ts
        if m.startswith("relay.broker") and t.startswith("relay")
        and not t.startswith(("relay.broker", "relay.settings")) and t != "relay"
    ]  # fmt: skip
    assert bad == []


MAX_ROLE_METHODS = 10


def role_interfaces() -> dict[str, int]:
    """The broker's interfaces (ABCs, Protocols, and abstract classes made of interfaces), each with its number of
    public methods, inherited ones included: an interface that inherits four roles is as wide as the four."""
    classes: dict[str, tuple[set[str], int, bool]] = {}  # name → (bases, own public methods, declares abstract ones)
    for name, path in modules().items():
        if name.startswith("relay.broker"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    methods = [f for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
                    bases = {ast.unparse(base).removeprefix("abc.").removeprefix("typing.") for base in node.bases}
                    abstract = any("abstractmethod" in ast.unparse(d) for f in methods for d in f.decorator_list)
                    classes[node.name] = (bases, sum(not f.name.startswith("_") for f in methods), abstract)

    def width(cls: str) -> int | None:
        """Public methods of an interface; None for a class that is not one."""
        bases, own, abstract = classes[cls]
        if not (bases & {"ABC", "Protocol"} or abstract):
            return None
        return own + sum(width(b) or 0 for b in bases if b in classes)

    return {cls: w for cls in classes if (w := width(cls)) is not None}


def test_every_broker_role_is_a_small_interface() -> None:
    roles = role_interfaces()
    assert {"EventLog", "JobQueue", "TopicBus", "Grants", "PresenceStore"} <= set(roles)
    assert {role: count for role, count in roles.items() if count > MAX_ROLE_METHODS} == {}
