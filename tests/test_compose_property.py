"""Property: for random fragment DAGs spread over modules, the build's documents equal the
run-time ``gql()`` documents, hold exactly the transitive fragments, sorted by name."""

from __future__ import annotations

import importlib
import itertools
import json
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sodabuild.config import load_workspace
from sodabuild.engine import build_workspace
from sodabuild.rules.load import load_rules

SCHEMA = """
type Query { viewer: User }
type User { id: ID! name: String friend: User }
"""

_counter = itertools.count()


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[list[int]], list[int], list[list[int]]]:
    """(deps per fragment, module per fragment, spreads per operation)."""
    count = draw(st.integers(1, 7))
    deps = [
        sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(count)
    ]
    modules = [draw(st.integers(0, 2)) for _ in range(count)]
    # a fragment's module never comes before its dependencies' modules (no import cycles)
    for i in range(count):
        modules[i] = max([modules[i], *(modules[d] for d in deps[i])])
    operations = draw(
        st.lists(st.sets(st.integers(0, count - 1), min_size=1, max_size=3).map(sorted), max_size=3)
    )
    return deps, modules, operations


def write_workspace(
    root: Path, package: str, deps: list[list[int]], modules: list[int], operations: list[list[int]]
) -> None:
    (root / "p" / package).mkdir(parents=True)
    (root / "sodabuild.toml").write_text(
        '[workspace]\nname = "prop"\n[[projects]]\nname = "p"\nroot = "p"\nschema = "schema.graphql"\n'
    )
    (root / "p" / "schema.graphql").write_text(SCHEMA)
    (root / "p" / package / "__init__.py").write_text("")
    sources: dict[int, list[str]] = {m: ["from sodabuild.graphql import gql"] for m in range(4)}
    for i, fragment_deps in enumerate(deps):
        module = modules[i]
        for d in fragment_deps:
            if modules[d] != module:
                sources[module].insert(1, f"from {package}.m{modules[d]} import F{d}")
        spreads = " ".join(f"friend {{ ...F{d} }}" for d in fragment_deps)
        args = "".join(f", F{d}" for d in fragment_deps)
        sources[module].append(f'F{i} = gql("""fragment F{i} on User {{ id {spreads} }}"""{args})')
    for k, spread in enumerate(operations):
        for d in spread:
            sources[3].insert(1, f"from {package}.m{modules[d]} import F{d}")
        body = " ".join(f"...F{d}" for d in spread)
        args = "".join(f", F{d}" for d in spread)
        sources[3].append(f'Q{k} = gql("query Q{k} {{ viewer {{ {body} }} }}"{args})')
    for module, lines in sources.items():
        (root / "p" / package / f"m{module}.py").write_text("\n".join(lines) + "\n")


def closure(deps: list[list[int]], roots: list[int]) -> set[int]:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(deps[node])
    return seen


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(dags())
def test_build_equals_runtime_for_random_dags(
    tmp_path: Path, case: tuple[list[list[int]], list[int], list[list[int]]]
) -> None:
    deps, modules, operations = case
    package = f"prop{next(_counter)}"
    root = tmp_path / package
    write_workspace(root, package, deps, modules, operations)
    workspace = load_workspace(root / "sodabuild.toml")
    result = build_workspace(workspace, load_rules(root, []))
    assert result.ok, [d.render() for p in result.projects for d in p.diagnostics]
    artifact = json.loads((root / "p" / "__generated__" / "artifact.json").read_text())
    elements = artifact["elements"]
    assert len(elements) == len(deps) + len(operations)
    sys.path.insert(0, str(root / "p"))
    try:
        for element in elements.values():
            module = importlib.import_module(
                element["module"].removesuffix(".py").replace("/", ".")
            )
            runtime = getattr(module, element["binding"])
            assert runtime.document == element["document"]
            assert runtime.hash == element["hash"]
            binding = element["binding"]
            index = int(binding[1:])
            roots = deps[index] if binding.startswith("F") else operations[index]
            expected = sorted(f"F{d}" for d in closure(deps, list(roots)))
            assert list(runtime.fragment_names) == expected
            # the artifact lists fragment ids sorted by canonical id
            assert element["fragments"] == sorted(element["fragments"])
            assert sorted(f.split("::")[1] for f in element["fragments"]) == expected
    finally:
        sys.path.remove(str(root / "p"))
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]
