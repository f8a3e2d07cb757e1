"""Tests of the relay-compiler peer: the JS twin of ``fixtures/generate.py`` and
``benchmarks/peers.py``.

The twin is checked against the Python tree independently of the generator's internals:
the Python documents are read back with ``ast`` + graphql-core, the JS tags with a regex
+ graphql-core, relay's renames are undone, and the printed definitions must be equal.
The relay-compiler run is skipped (with the reason) when it cannot be installed.
"""

from __future__ import annotations

import ast
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from graphql import (
    FragmentDefinitionNode,
    OperationDefinitionNode,
    parse,
    print_ast,
)

from benchmarks import peers

from .conftest import generator, read_tree

REPO = Path(__file__).resolve().parent.parent
PEER_CACHE = REPO / ".cache" / "peers"
MODULES = 100
SEED = 0

TAG_RE = re.compile(r"^(?:export )?const (\w+) = graphql`\n(.*?)\n`;$", re.M | re.S)
MODULE_COMMENT_RE = re.compile(r"^// GraphQL documents for .* \(([\w.]+)\)\.$", re.M)
IDENTIFIER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
GQL_CALLEES = {"gql", "graphql_doc"}


gen = generator()


# ----------------------------------------------------------------------- readers


def python_documents(app_src: Path) -> dict[str, list[str]]:
    """Dotted module -> printed definitions of its ``gql("...")`` strings."""
    out: dict[str, list[str]] = {}
    for path in sorted(app_src.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        printed: list[str] = []
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
                continue
            func = node.value.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in GQL_CALLEES or not node.value.args:
                continue
            first = node.value.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str)
            printed += [print_ast(d) for d in parse(first.value).definitions]
        if printed:
            rel = path.relative_to(app_src).with_suffix("")
            out[".".join(rel.parts)] = printed
    return out


def js_files(twin: Path) -> dict[Path, str]:
    return {
        p: p.read_text(encoding="utf-8")
        for p in sorted((twin / "src").rglob("*.js"))
        if "__generated__" not in p.parts
    }


Executable = FragmentDefinitionNode | OperationDefinitionNode


def js_definitions(text: str) -> list[Executable]:
    defs: list[Executable] = []
    for _, body in TAG_RE.findall(text):
        doc = parse(body)
        assert len(doc.definitions) == 1, body  # one definition per tag
        d = doc.definitions[0]
        assert isinstance(d, FragmentDefinitionNode | OperationDefinitionNode), body
        defs.append(d)
    return defs


def unrename(printed: str, module_name: str) -> str:
    """Undo the twin's relay renames in one printed definition."""
    printed = re.sub(r"(fragment |\.\.\.)[A-Za-z0-9]+_(?=\w)", r"\1", printed)
    return re.sub(rf"^(query|mutation) {module_name}(\w+?)(Query|Mutation)\b", r"\1 \2", printed)


# ----------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("peers")
    py_stats = gen.generate(root / "py", MODULES, SEED)
    twin_stats = gen.generate_js_twin(root / "twin", MODULES, SEED)
    gen.generate_js_twin(root / "twin2", MODULES, SEED)
    assert twin_stats.operations == py_stats.operations
    assert twin_stats.fragments == py_stats.fragments
    return {"py": root / "py", "twin": root / "twin", "twin2": root / "twin2"}


# --------------------------------------------------------------------------- twin


def test_twin_is_deterministic(trees: dict[str, Path], tmp_path: Path) -> None:
    first = read_tree(trees["twin"])
    assert first == read_tree(trees["twin2"])
    assert {"relay.config.json", "schema.graphql", gen.MARKER} <= set(first)
    other = gen.generate_js_twin(tmp_path / "other", MODULES, SEED + 1)
    assert other.js_files > 0
    assert read_tree(tmp_path / "other") != first


def test_twin_schema_is_the_python_schema(trees: dict[str, Path]) -> None:
    schema = (trees["twin"] / "schema.graphql").read_bytes()
    assert schema == (trees["py"] / "app" / "schema.graphql").read_bytes()


def test_one_js_file_per_graphql_module(trees: dict[str, Path]) -> None:
    py_docs = python_documents(trees["py"] / "app" / "src")
    dotted = []
    for path, text in js_files(trees["twin"]).items():
        match = MODULE_COMMENT_RE.search(text)
        assert match, path
        dotted.append(match.group(1))
        # the JS file mirrors the Python package directories
        parts = match.group(1).split(".")
        assert path.parent == trees["twin"] / "src" / Path(*parts[:-1])
    assert len(dotted) == len(set(dotted))
    assert set(dotted) == set(py_docs)


def test_names_follow_relay_rules(trees: dict[str, Path]) -> None:
    stems: set[str] = set()
    names: set[str] = set()
    for path, text in js_files(trees["twin"]).items():
        stem = path.stem
        assert IDENTIFIER_RE.match(stem), stem
        assert stem not in stems, f"module name {stem} is not unique"
        stems.add(stem)
        defs = js_definitions(text)
        assert defs and len(defs) == text.count("graphql`")
        for d in defs:
            assert d.name is not None
            name = d.name.value
            assert name not in names, f"{name} defined twice"
            names.add(name)
            if isinstance(d, FragmentDefinitionNode):
                assert name.startswith(stem + "_") and len(name) > len(stem) + 1, name
            else:
                assert isinstance(d, OperationDefinitionNode)
                suffix = d.operation.value.capitalize()
                assert re.fullmatch(rf"{stem}\w+{suffix}", name), name


def test_twin_documents_equal_python_documents(trees: dict[str, Path]) -> None:
    py_docs = python_documents(trees["py"] / "app" / "src")
    twin_docs: dict[str, list[str]] = {}
    for path, text in js_files(trees["twin"]).items():
        match = MODULE_COMMENT_RE.search(text)
        assert match
        twin_docs[match.group(1)] = [
            unrename(print_ast(d), path.stem) for d in js_definitions(text)
        ]
    assert twin_docs == py_docs  # same definitions, same order, same selections

    def kinds(docs: dict[str, list[str]]) -> Counter[str]:
        return Counter(doc.split(" ", 1)[0] for defs in docs.values() for doc in defs)

    counts = kinds(py_docs)
    assert counts == kinds(twin_docs)
    assert counts["query"] + counts["mutation"] > 0 and counts["fragment"] > 0


def test_cli_writes_twin_and_keeps_python_tree(trees: dict[str, Path], tmp_path: Path) -> None:
    out, twin = tmp_path / "py", tmp_path / "twin"
    code = gen.main(["--modules", str(MODULES), "--out", str(out), "--js-twin", str(twin)])
    assert code == 0
    assert read_tree(twin) == read_tree(trees["twin"])
    assert read_tree(out) == read_tree(trees["py"])
    assert gen.main(["--modules", str(MODULES), "--js-twin", str(twin)]) == 0
    assert read_tree(twin) == read_tree(trees["twin"])


# -------------------------------------------------------------------------- relay


def test_relay_command_is_a_real_compile(tmp_path: Path) -> None:
    argv = peers.relay_command(Path("/x/relay-compiler"), tmp_path)
    assert argv[0] == "/x/relay-compiler"
    assert "--validate" not in argv and "--watch" not in argv and "-w" not in argv


def test_relay_compiles_small_twin(trees: dict[str, Path], tmp_path: Path) -> None:
    install = peers.ensure_relay(PEER_CACHE)
    if install.binary is None:
        pytest.skip(f"relay-compiler unavailable: {install.reason}")
    twin = tmp_path / "twin"
    shutil.copytree(trees["twin"], twin)
    tags = sum(text.count("graphql`") for text in js_files(twin).values())

    cold = peers.measure_relay(install.binary, twin, "cold")
    assert cold.returncode == 0, cold.stderr + cold.stdout
    artifacts = [p for d in peers.generated_dirs(twin) for p in d.glob("*.graphql.js")]
    assert len(artifacts) == tags
    assert cold.wall_s > 0 and cold.peak_rss_mb > 0

    before = read_tree(twin)
    noop = peers.measure_relay(install.binary, twin, "noop")
    assert noop.returncode == 0, noop.stderr + noop.stdout
    assert read_tree(twin) == before
    assert peers.clear_artifacts(twin) > 0
    assert peers.generated_dirs(twin) == []
