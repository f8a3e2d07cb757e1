"""Tests of the fixture generator ``fixtures/generate.py``.

The GraphQL check re-implements, independently of sodabuild, just enough of the source
convention: find ``Name = gql("...", F1, F2)`` assignments with ``ast``, resolve the
passed fragments through the Python imports (absolute, relative, aliases, ``module.F``,
package re-exports), compose main definition + transitive fragments and validate the
result against the generated schema with graphql-core.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    NoUnusedFragmentsRule,
    OperationDefinitionNode,
    build_schema,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.language import Visitor

from .conftest import generator, read_tree

REPO = Path(__file__).resolve().parent.parent
GQL_MODULES = ("sodabuild.graphql", "gql")


gen = generator()


# --------------------------------------------------------------------------- resolver

Binding = tuple[str, ...]  # ("def",) | ("module", dotted) | ("from", dotted, name)


@dataclass
class Definition:
    module: str
    binding: str
    source: str
    args: list[ast.expr]


@dataclass
class Module:
    dotted: str
    path: Path
    is_package: bool
    bindings: dict[str, Binding] = field(default_factory=dict)
    definitions: dict[str, Definition] = field(default_factory=dict)


class App:
    """The Python modules of one generated project, with a tiny import resolver."""

    def __init__(self, src: Path) -> None:
        self.modules: dict[str, Module] = {}
        for path in sorted(src.rglob("*.py")):
            parts = list(path.relative_to(src).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            dotted = ".".join(parts)
            self.modules[dotted] = Module(dotted, path, is_package)
        for module in self.modules.values():
            self._scan(module)

    def _scan(self, module: Module) -> None:
        tree = ast.parse(module.path.read_text("utf-8"), str(module.path))
        package = module.dotted.split(".") if module.is_package else module.dotted.split(".")[:-1]
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                else:
                    assert node.module is not None
                    target = node.module
                for alias in node.names:
                    module.bindings[alias.asname or alias.name] = ("from", target, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        module.bindings[alias.asname] = ("module", alias.name)
                    else:
                        head = alias.name.split(".")[0]
                        module.bindings[head] = ("module", head)
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call)
                and self._is_gql(module, node.value.func)
            ):
                name = node.targets[0].id
                first = node.value.args[0]
                assert isinstance(first, ast.Constant) and isinstance(first.value, str)
                module.bindings[name] = ("def",)
                module.definitions[name] = Definition(
                    module.dotted, name, first.value, node.value.args[1:]
                )

    @staticmethod
    def _is_gql(module: Module, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            b = module.bindings.get(func.id)
            return b is not None and b[0] == "from" and b[1] in GQL_MODULES and b[2] == "gql"
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            b = module.bindings.get(func.value.id)
            return b is not None and b[0] == "module" and b[1] in GQL_MODULES and func.attr == "gql"
        return False

    def resolve_name(self, dotted: str, name: str, depth: int = 0) -> Binding:
        """``("def", module, binding)`` or ``("module", dotted)``; asserts on failure."""
        assert depth < 50, f"import loop resolving {dotted}.{name}"
        module = self.modules[dotted]
        binding = module.bindings.get(name)
        if binding is None:
            assert f"{dotted}.{name}" in self.modules, f"{name} is not bound in {dotted}"
            return ("module", f"{dotted}.{name}")
        if binding[0] == "def":
            return ("def", dotted, name)
        if binding[0] == "module":
            return binding
        _, target, attr = binding
        if target in self.modules and attr in self.modules[target].bindings:
            return self.resolve_name(target, attr, depth + 1)
        assert f"{target}.{attr}" in self.modules, (
            f"cannot resolve {attr} from {target} in {dotted}"
        )
        return ("module", f"{target}.{attr}")

    def resolve_expr(self, dotted: str, expr: ast.expr) -> Definition:
        if isinstance(expr, ast.Name):
            resolved = self.resolve_name(dotted, expr.id)
        else:
            assert isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name), ast.dump(
                expr
            )
            base = self.resolve_name(dotted, expr.value.id)
            assert base[0] == "module", f"{expr.value.id} is not a module in {dotted}"
            resolved = self.resolve_name(base[1], expr.attr)
        assert resolved[0] == "def", f"{ast.unparse(expr)} in {dotted} is not a gql definition"
        return self.modules[resolved[1]].definitions[resolved[2]]

    def definitions(self) -> list[Definition]:
        return [d for m in self.modules.values() for d in m.definitions.values()]


def spreads_of(node: object) -> set[str]:
    found: set[str] = set()

    class Collect(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            found.add(spread.name.value)

    visit(node, Collect())  # type: ignore[arg-type]
    return found


def compose(app: App, definition: Definition) -> DocumentNode:
    """Main definition plus all transitive fragments (each name at most once)."""
    main = parse(definition.source)
    seen: dict[str, tuple[str, str]] = {}
    fragments: list[FragmentDefinitionNode] = []

    def add_fragments(doc: DocumentNode, owner: Definition, skip_first: bool) -> None:
        for d in doc.definitions[1 if skip_first else 0 :]:
            assert isinstance(d, FragmentDefinitionNode)
            key = (owner.module, owner.binding)
            assert seen.setdefault(d.name.value, key) == key, f"two fragments named {d.name.value}"
            if all(f.name.value != d.name.value for f in fragments):
                fragments.append(d)

    stack = [definition]
    add_fragments(main, definition, skip_first=True)
    done: set[tuple[str, str]] = set()
    while stack:
        current = stack.pop()
        for arg in current.args:
            frag = app.resolve_expr(current.module, arg)
            if (frag.module, frag.binding) in done:
                continue
            done.add((frag.module, frag.binding))
            add_fragments(parse(frag.source), frag, skip_first=False)
            stack.append(frag)
    return DocumentNode(definitions=(main.definitions[0], *fragments))


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def small_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("gen") / "ws"
    stats = gen.generate(out, modules=300, seed=0)
    return out, stats


# ------------------------------------------------------------------------------- tests


def test_deterministic(tmp_path: Path) -> None:
    gen.generate(tmp_path / "a", modules=60, seed=5)
    gen.generate(tmp_path / "b", modules=60, seed=5)
    gen.generate(tmp_path / "c", modules=60, seed=6)
    a, b, c = (read_tree(tmp_path / n) for n in "abc")
    assert a == b
    assert a != c
    assert all(b"\r" not in data for data in a.values())
    # The CLI in another process (other hash seed) writes the same bytes.
    cli = [sys.executable, str(REPO / "fixtures" / "generate.py"), "--modules", "60", "--seed", "5"]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([*cli, "--out", str(tmp_path / "d")], check=True, env=env, capture_output=True)
    assert read_tree(tmp_path / "d") == a


def test_output_dir_handling(tmp_path: Path) -> None:
    out = tmp_path / "ws"
    gen.generate(out, modules=20, seed=1)
    stale = out / "app" / "src" / "stale.py"
    stale.write_text("x = 1\n")
    gen.generate(out, modules=20, seed=1)  # marker present: wiped and rewritten
    assert not stale.exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine\n")
    with pytest.raises(gen.GenerateError):
        gen.generate(foreign, modules=20, seed=1)
    assert (foreign / "keep.txt").read_text() == "mine\n"
    assert gen.main(["--modules", "20", "--out", str(foreign)]) == 2


def test_structure_and_counts(small_app: tuple[Path, object]) -> None:
    out, stats = small_app
    assert (out / gen.MARKER).is_file()
    assert '[[projects]]\nname = "app"\nroot = "app"' in (out / "sodabuild.toml").read_text()
    project = (out / "app" / "sodabuild.toml").read_text()
    assert 'schema = "schema.graphql"' in project and 'source_roots = ["src"]' in project
    src = out / "app" / "src"
    py_files = sorted(src.rglob("*.py"))
    assert stats.modules == len(py_files) == 300  # type: ignore[attr-defined]
    for path in py_files:
        rel = path.relative_to(src)
        assert 2 <= len(rel.parts) <= 4, rel
        if path.name != "__init__.py":
            assert (path.parent / "__init__.py").is_file()
        compile(path.read_bytes(), str(path), "exec")
    app = App(src)
    defs = app.definitions()
    kinds = [parse(d.source).definitions[0] for d in defs]
    assert stats.modules_with_graphql == sum(1 for m in app.modules.values() if m.definitions)  # type: ignore[attr-defined]
    assert stats.fragments == sum(isinstance(k, FragmentDefinitionNode) for k in kinds)  # type: ignore[attr-defined]
    assert stats.operations == sum(isinstance(k, OperationDefinitionNode) for k in kinds)  # type: ignore[attr-defined]
    schema_doc = parse((out / "app" / "schema.graphql").read_text())
    assert stats.schema_types == len(schema_doc.definitions)  # type: ignore[attr-defined]
    assert 0.25 < stats.modules_with_graphql / stats.modules < 0.55  # type: ignore[attr-defined]
    assert stats.total_bytes == sum(len(b) for b in read_tree(out).values())  # type: ignore[attr-defined]


def test_every_document_is_valid(small_app: tuple[Path, object]) -> None:
    out, _ = small_app
    schema = build_schema((out / "app" / "schema.graphql").read_text())
    app = App(out / "app" / "src")
    op_names: set[str] = set()
    fragment_names: set[str] = set()
    defs = app.definitions()
    assert len(defs) > 50
    for d in defs:
        doc = parse(d.source)
        main = doc.definitions[0]
        assert isinstance(main, OperationDefinitionNode | FragmentDefinitionNode)
        assert main.name is not None
        names = op_names if isinstance(main, OperationDefinitionNode) else fragment_names
        assert main.name.value not in names, f"duplicate name {main.name.value}"
        names.add(main.name.value)
        local = {f.name.value for f in doc.definitions[1:] if isinstance(f, FragmentDefinitionNode)}
        fragment_names.update(local)
        passed = [app.resolve_expr(d.module, a) for a in d.args]
        passed_names = [parse(p.source).definitions[0].name.value for p in passed]  # type: ignore[attr-defined]
        assert sorted(passed_names) == sorted(spreads_of(doc) - local), f"{d.module}.{d.binding}"
        composed = compose(app, d)
        # A fragment's own document necessarily has its main fragment unused.
        rules = specified_rules
        if isinstance(main, FragmentDefinitionNode):
            rules = tuple(r for r in specified_rules if r is not NoUnusedFragmentsRule)
        errors = validate(schema, composed, rules)
        assert not errors, f"{d.module}.{d.binding}: {[e.message for e in errors]}"
    assert len(op_names) > 10 and len(fragment_names) > 10


STUB = """
class Doc:
    def __init__(self, source, fragments):
        self.source = source
        self.fragments = fragments

def gql(source, *fragments):
    assert isinstance(source, str)
    assert all(isinstance(f, Doc) for f in fragments), fragments
    return Doc(source, fragments)
"""


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_every_module_imports(small_app: tuple[Path, object], tmp_path: Path, order: str) -> None:
    """Import every module (stub ``sodabuild.graphql``): no cycles, every name bound."""
    out, _ = small_app
    stub = tmp_path / "stub" / "sodabuild"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("")
    (stub / "graphql.py").write_text(STUB)
    src = out / "app" / "src"
    names = sorted(App(src).modules)
    if order == "reversed":
        names.reverse()
    script = textwrap.dedent(f"""
        import importlib, sys
        sys.path[:0] = [{str(tmp_path / "stub")!r}, {str(src)!r}]
        sys.dont_write_bytecode = True
        for name in {names!r}:
            importlib.import_module(name)
    """)
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
