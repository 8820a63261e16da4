"""The components import each other without a cycle (the loader used to sit in one with
dns_records.py and mail_auth.py, broken only by type-only imports): every module's
top-level imports, and no `if TYPE_CHECKING:` import left to hide one."""

from __future__ import annotations

import ast

from components.core.config import REPO_ROOT


def imports_of(path) -> set[str]:
    found = set()
    for node in ast.parse(path.read_text()).body:  # top level only: not in functions or TYPE_CHECKING
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("components"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found |= {n for n in names if (REPO_ROOT / (n.replace(".", "/") + ".py")).exists()} or {
                node.module
            }
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("components")}
    return found


def module_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted((REPO_ROOT / "components").rglob("*.py")):
        name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = imports_of(path) - {name}
    return graph


# The stack-file models, one per room (and the top level, with the types they share).
MODELS = (
    "components.core.types",
    "components.core.stack",
    "components.hosts.models",
    "components.hosts.ansible",
    "components.dns.models",
    "components.dns.mail_models",
    "components.storage.models",
)


def test_no_import_cycles():
    graph = module_graph()
    assert "components.core.rules" in graph["components.core.config"]  # the loader imports the rules,
    assert "components.dns.checks" in graph["components.core.rules"]  # they the record rules ...
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(name) :], name]))
        if state.get(name) == 2:
            return
        state[name] = 1
        for other in sorted(graph.get(name, ())):
            visit(other, [*trail, name])
        state[name] = 2

    for name in graph:
        visit(name, [])
    for name in (
        "components.dns.records",
        "components.dns.checks",
        "components.dns.mail_auth",
        "components.hosts.cloudinit",
    ):
        assert "components.core.config" not in graph[name], name  # ... and not the other way
    models = [n for n in graph if n in MODELS]
    assert len(models) == len(MODELS)
    for name in models:  # the models need none of the code that uses them
        assert graph[name] <= {
            *models,
            "components.core.values",
            "components.core.errors",
            "components.core.boundary",
        }, (
            name,
            graph[name],
        )


def test_no_type_only_imports():
    """A type-only import is how the old cycle was hidden; the domain models made it unnecessary."""
    hidden = [
        p.name for p in (REPO_ROOT / "components").rglob("*.py") if "if TYPE_CHECKING:" in p.read_text()
    ]
    assert hidden == []


MAX_LINES = 400  # a module that must be read whole to change one rule is too big (STYLE.md)


def test_no_module_is_over_400_lines():
    """components/, tools/ and policy/: one concern a module; tests may be longer."""
    long = {
        str(path.relative_to(REPO_ROOT)): n
        for folder in ("components", "tools", "policy")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by concern: {long}"
