"""SpecifierResolver: JavaScript/TypeScript specifiers to workspace files."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sodabuild.resolve.specifiers import (
    SOURCE_SUFFIXES,
    SpecifierResolver,
    alias_patterns,
    is_declaration,
)


class Files:
    """A dict-backed ``exists`` that counts its calls."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = dict.fromkeys(paths, True)
        self.calls = 0

    def __call__(self, path: str) -> bool:
        self.calls += 1
        return self.paths.get(path, False)


def resolver(
    *paths: str,
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = (),
    base_url: str | None = None,
) -> SpecifierResolver:
    return SpecifierResolver(aliases, base_url, Files(paths))


# -- relative specifiers -------------------------------------------------------------------


def test_relative_sibling_and_subdirectory() -> None:
    r = resolver("web/src/a.ts", "web/src/sub/b.tsx")
    assert r.resolve("web/src/main.ts", "./a") == "web/src/a.ts"
    assert r.resolve("web/src/main.ts", "./sub/b") == "web/src/sub/b.tsx"
    assert r.resolve("web/src/main.ts", "./missing") is None


def test_relative_parent_directories() -> None:
    r = resolver("web/lib/frags.ts", "shared.ts")
    assert r.resolve("web/src/deep/main.ts", "../../lib/frags") == "web/lib/frags.ts"
    assert r.resolve("web/src/main.ts", "../../shared") == "shared.ts"
    assert r.resolve("web/src/main.ts", "./../lib/./frags") == "web/lib/frags.ts"


def test_relative_from_a_root_file() -> None:
    r = resolver("a.ts", "lib/index.ts")
    assert r.resolve("main.ts", "./a") == "a.ts"
    assert r.resolve("main.ts", "./lib") == "lib/index.ts"


def test_escaping_the_root_is_unresolvable() -> None:
    r = resolver("a.ts", "index.ts")
    assert r.resolve("main.ts", "../a") is None
    assert r.resolve("web/main.ts", "../../a") is None
    assert r.resolve("web/main.ts", "../x/../../a") is None
    assert r.resolve("main.ts", "..") is None


def test_index_files() -> None:
    r = resolver("web/graphql/index.ts", "web/other/index.jsx", "web/index.mts")
    assert r.resolve("web/main.ts", "./graphql") == "web/graphql/index.ts"
    assert r.resolve("web/main.ts", "./graphql/") == "web/graphql/index.ts"
    assert r.resolve("web/main.ts", "./other") == "web/other/index.jsx"
    assert r.resolve("web/graphql/a.ts", "..") == "web/index.mts"
    assert r.resolve("web/graphql/a.ts", "../") == "web/index.mts"
    assert r.resolve("web/graphql/a.ts", ".") == "web/graphql/index.ts"


def test_a_file_wins_over_a_directory_index() -> None:
    r = resolver("web/graphql.ts", "web/graphql/index.ts")
    assert r.resolve("web/main.ts", "./graphql") == "web/graphql.ts"


def test_trailing_slash_and_dot_are_directories_only() -> None:
    r = resolver("web/graphql.ts", "web/graphql/index.ts", "web.ts")
    assert r.resolve("web/main.ts", "./graphql/") == "web/graphql/index.ts"
    assert r.resolve("web/graphql/a.ts", ".") == "web/graphql/index.ts"
    r = resolver("web.ts")
    assert r.resolve("web/main.ts", ".") is None
    assert r.resolve("web/a/main.ts", "..") is None


def test_suffix_order() -> None:
    everything = [f"w/a{suffix}" for suffix in SOURCE_SUFFIXES]
    for index, suffix in enumerate(SOURCE_SUFFIXES):
        r = resolver(*everything[index:])
        assert r.resolve("w/main.ts", "./a") == f"w/a{suffix}"
    assert SOURCE_SUFFIXES == (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")


def test_index_suffix_order() -> None:
    everything = [f"w/d/index{suffix}" for suffix in SOURCE_SUFFIXES]
    for index, suffix in enumerate(SOURCE_SUFFIXES):
        r = resolver(*everything[index:])
        assert r.resolve("w/main.ts", "./d") == f"w/d/index{suffix}"


def test_explicit_source_suffix() -> None:
    r = resolver("w/a.ts", "w/b.mjs", "w/c.jsx")
    assert r.resolve("w/main.ts", "./a.ts") == "w/a.ts"
    assert r.resolve("w/main.ts", "./b.mjs") == "w/b.mjs"
    assert r.resolve("w/main.ts", "./c.jsx") == "w/c.jsx"


def test_js_specifier_names_the_typescript_file() -> None:
    r = resolver("w/a.ts", "w/b.tsx", "w/c.mts", "w/d.cts", "w/e.tsx")
    assert r.resolve("w/main.ts", "./a.js") == "w/a.ts"
    assert r.resolve("w/main.ts", "./b.js") == "w/b.tsx"
    assert r.resolve("w/main.ts", "./c.mjs") == "w/c.mts"
    assert r.resolve("w/main.ts", "./d.cjs") == "w/d.cts"
    assert r.resolve("w/main.ts", "./e.jsx") == "w/e.tsx"
    # .mjs names only .mts, .cjs only .cts
    r = resolver("w/c.ts", "w/d.ts")
    assert r.resolve("w/main.ts", "./c.mjs") is None
    assert r.resolve("w/main.ts", "./d.cjs") is None


def test_an_existing_js_file_wins_over_its_typescript_twin() -> None:
    r = resolver("w/a.js", "w/a.ts")
    assert r.resolve("w/main.ts", "./a.js") == "w/a.js"
    assert r.resolve("w/main.ts", "./a") == "w/a.ts"


def test_ts_over_tsx_for_a_js_specifier() -> None:
    r = resolver("w/a.ts", "w/a.tsx")
    assert r.resolve("w/main.ts", "./a.js") == "w/a.ts"


def test_other_extensions_get_source_suffixes() -> None:
    r = resolver("w/styles.css.ts", "w/data.json")
    assert r.resolve("w/main.ts", "./styles.css") == "w/styles.css.ts"
    assert r.resolve("w/main.ts", "./data.json") is None  # not a source


def test_declaration_files_are_never_a_result() -> None:
    r = resolver("w/types.d.ts", "w/esm.d.mts", "w/styles.d.css.ts", "w/d/index.d.ts")
    assert r.resolve("w/main.ts", "./types") is None
    assert r.resolve("w/main.ts", "./types.js") is None
    assert r.resolve("w/main.ts", "./types.d.ts") is None
    assert r.resolve("w/main.ts", "./esm.mjs") is None
    assert r.resolve("w/main.ts", "./styles.css") is None
    assert r.resolve("w/main.ts", "./d") is None
    assert is_declaration("a.d.ts") and is_declaration("a/b.d.cts")
    assert is_declaration("x.d.css.ts")
    assert not is_declaration("a.ts") and not is_declaration("a.d.tsx")
    assert not is_declaration("d.ts") and not is_declaration("a.d/b.ts")


def test_declaration_next_to_a_source() -> None:
    r = resolver("w/a.d.ts", "w/a.js")
    assert r.resolve("w/main.ts", "./a") == "w/a.js"


# -- bare specifiers -----------------------------------------------------------------------


def test_bare_specifiers_are_external() -> None:
    r = resolver("react.ts", "node_modules/react/index.js", "web/react.ts")
    assert r.resolve("web/main.ts", "react") is None
    assert r.resolve("web/main.ts", "@apollo/client") is None
    assert r.resolve("web/main.ts", "node:fs") is None


def test_absolute_and_empty_specifiers() -> None:
    r = resolver("a.ts", "web/a.ts")
    assert r.resolve("web/main.ts", "/a") is None
    assert r.resolve("web/main.ts", "/web/a") is None
    assert r.resolve("web/main.ts", "") is None


def test_exact_alias() -> None:
    r = resolver("web/lib/index.ts", "web/lib/other.ts", aliases=(("~lib", ("web/lib/index.ts",)),))
    assert r.resolve("web/src/main.ts", "~lib") == "web/lib/index.ts"
    assert r.resolve("web/src/main.ts", "~lib/other") is None  # exact only


def test_star_alias() -> None:
    r = resolver(
        "web/src/graphql/frags.ts",
        "web/src/components/index.tsx",
        aliases=(("@/*", ("web/src/*",)),),
    )
    assert r.resolve("web/app/main.ts", "@/graphql/frags") == "web/src/graphql/frags.ts"
    assert r.resolve("web/app/main.ts", "@/components") == "web/src/components/index.tsx"
    assert r.resolve("web/app/main.ts", "@/graphql/frags.js") == "web/src/graphql/frags.ts"
    assert r.resolve("web/app/main.ts", "@/missing") is None
    assert r.resolve("web/app/main.ts", "@other/x") is None


def test_star_alias_with_a_suffix() -> None:
    r = resolver("gen/user.graphql.ts", aliases=(("gql:*.graphql", ("gen/*.graphql.ts",)),))
    assert r.resolve("main.ts", "gql:user.graphql") == "gen/user.graphql.ts"
    assert r.resolve("main.ts", "gql:user") is None


def test_exact_patterns_win_over_star_patterns() -> None:
    aliases = (("@/*", ("web/src/*",)), ("@/graphql", ("web/gql/index.ts",)))
    r = resolver("web/gql/index.ts", "web/src/graphql.ts", aliases=aliases)
    assert r.resolve("web/main.ts", "@/graphql") == "web/gql/index.ts"


def test_longest_prefix_wins() -> None:
    aliases = (
        ("@/*", ("web/src/*",)),
        ("@/graphql/*", ("web/gql/*",)),
        ("*", ("web/root/*",)),
    )
    r = resolver(
        "web/src/graphql/a.ts", "web/gql/a.ts", "web/src/b.ts", "web/root/c.ts", aliases=aliases
    )
    assert r.resolve("web/main.ts", "@/graphql/a") == "web/gql/a.ts"
    assert r.resolve("web/main.ts", "@/b") == "web/src/b.ts"
    assert r.resolve("web/main.ts", "c") == "web/root/c.ts"


def test_first_pattern_wins_a_tie() -> None:
    aliases = (("a*", ("one/*",)), ("a*", ("two/*",)), ("a*x", ("three/*",)))
    r = resolver("one/bx.ts", "two/bx.ts", "three/b.ts", aliases=aliases)
    assert r.resolve("m.ts", "abx") == "one/bx.ts"


def test_the_best_pattern_does_not_fall_back_to_a_shorter_one() -> None:
    # TypeScript tries only the best pattern's targets, then baseUrl
    aliases = (("@/*", ("web/src/*",)), ("@/graphql/*", ("web/gql/*",)))
    r = resolver("web/src/graphql/a.ts", "base/@/graphql/a.ts", aliases=aliases)
    assert r.resolve("web/main.ts", "@/graphql/a") is None
    r = resolver("web/src/graphql/a.ts", "base/@/graphql/a.ts", aliases=aliases, base_url="base")
    assert r.resolve("web/main.ts", "@/graphql/a") == "base/@/graphql/a.ts"


def test_multiple_targets_fall_back_in_order() -> None:
    aliases = (("@/*", ("web/generated/*", "web/src/*", "web/vendor/*")),)
    r = resolver("web/src/a.ts", "web/vendor/a.ts", "web/generated/b.ts", aliases=aliases)
    assert r.resolve("web/main.ts", "@/a") == "web/src/a.ts"
    assert r.resolve("web/main.ts", "@/b") == "web/generated/b.ts"
    assert r.resolve("web/main.ts", "@/c") is None


def test_alias_target_escaping_the_root() -> None:
    aliases = (("@/*", ("web/*",)), ("up", ("../outside.ts",)))
    r = resolver("a.ts", "outside.ts", aliases=aliases)
    assert r.resolve("web/main.ts", "@/../../a") is None
    assert r.resolve("web/main.ts", "@/../a") == "a.ts"  # still inside
    assert r.resolve("web/main.ts", "up") is None


def test_alias_to_the_workspace_root() -> None:
    r = resolver("index.ts", "lib/a.ts", aliases=alias_patterns({"~": "."}, ()))
    assert r.resolve("web/main.ts", "~") == "index.ts"
    assert r.resolve("web/main.ts", "~/lib/a") == "lib/a.ts"


def test_base_url() -> None:
    r = resolver("web/src/utils/gql.ts", "web/src/lib/index.ts", base_url="web/src")
    assert r.resolve("web/src/app/main.ts", "utils/gql") == "web/src/utils/gql.ts"
    assert r.resolve("web/src/app/main.ts", "lib") == "web/src/lib/index.ts"
    assert r.resolve("web/src/app/main.ts", "react") is None


def test_base_url_at_the_root() -> None:
    for base_url in (".", ""):
        r = resolver("lib/a.ts", base_url=base_url)
        assert r.resolve("web/main.ts", "lib/a") == "lib/a.ts"
        assert r.resolve("web/main.ts", "../lib/a") == "lib/a.ts"
        assert r.resolve("main.ts", "../lib/a") is None


def test_aliases_before_base_url() -> None:
    aliases = (("lib/*", ("web/lib/*",)),)
    r = resolver("web/lib/a.ts", "lib/a.ts", "lib/b.ts", aliases=aliases, base_url=".")
    assert r.resolve("main.ts", "lib/a") == "web/lib/a.ts"
    assert r.resolve("main.ts", "lib/b") == "lib/b.ts"  # no alias target: baseUrl


# -- sodabuild [aliases] prefixes ----------------------------------------------------------


def test_alias_patterns_order_and_shape() -> None:
    patterns = alias_patterns(
        {"@/graphql": "web/src/graphql", "~lib/": "web/lib/"},
        (("@/*", ["web/src/*"]), ("x", ("y.ts",))),
    )
    assert patterns == (
        ("@/graphql", ("web/src/graphql",)),
        ("@/graphql/*", ("web/src/graphql/*",)),
        ("~lib", ("web/lib",)),
        ("~lib/*", ("web/lib/*",)),
        ("@/*", ("web/src/*",)),
        ("x", ("y.ts",)),
    )


def test_config_prefixes() -> None:
    patterns = alias_patterns({"@/graphql": "web/src/graphql"}, (("@/*", ("web/app/*",)),))
    r = resolver(
        "web/src/graphql/frags.ts",
        "web/src/graphql/index.ts",
        "web/app/graphql/frags.ts",
        "web/app/other.ts",
        aliases=patterns,
    )
    assert r.resolve("web/app/main.ts", "@/graphql/frags") == "web/src/graphql/frags.ts"
    assert r.resolve("web/app/main.ts", "@/graphql") == "web/src/graphql/index.ts"
    assert r.resolve("web/app/main.ts", "@/other") == "web/app/other.ts"
    assert r.resolve("web/app/main.ts", "@/graphqlx") is None  # prefix, not string prefix


def test_config_prefix_wins_over_the_same_tsconfig_pattern() -> None:
    patterns = alias_patterns({"@": "mine"}, (("@/*", ("theirs/*",)), ("@", ("theirs",))))
    r = resolver("mine/a.ts", "theirs/a.ts", "mine/index.ts", "theirs/index.ts", aliases=patterns)
    assert r.resolve("m.ts", "@/a") == "mine/a.ts"
    assert r.resolve("m.ts", "@") == "mine/index.ts"


# -- memoization ---------------------------------------------------------------------------


def test_memoized_per_directory_and_specifier() -> None:
    files = Files(["web/a.ts", "web/b/a.ts"])
    r = SpecifierResolver((("@/*", ("web/*",)),), None, files)
    assert r.resolve("web/x.ts", "./a") == "web/a.ts"
    calls = files.calls
    assert r.resolve("web/y.ts", "./a") == "web/a.ts"
    assert files.calls == calls  # same directory, same specifier
    assert r.resolve("web/b/y.ts", "./a") == "web/b/a.ts"  # another directory
    assert r.resolve("web/x.ts", "@/a") == "web/a.ts"
    calls = files.calls
    assert r.resolve("other/deep/z.ts", "@/a") == "web/a.ts"
    assert files.calls == calls  # a bare specifier resolves the same from anywhere
    assert r.resolve("web/q.ts", "../web/a") == "web/a.ts"
    assert files.calls == calls  # the same candidate base


# -- properties ----------------------------------------------------------------------------

_segment = st.sampled_from(["a", "b", "src", "lib", "index", "..", "."])
_name = st.sampled_from(["a", "b", "index", "c.d", "x.d"])
_suffix = st.sampled_from([*SOURCE_SUFFIXES, ".d.ts", ".json", ""])
_files = st.lists(
    st.builds(
        lambda parts, name, suffix: posixpath.join(*parts, name + suffix),
        st.lists(st.sampled_from(["a", "b", "src", "lib"]), max_size=3),
        _name,
        _suffix,
    ),
    max_size=12,
)
_specifier = st.one_of(
    st.builds(
        lambda head, parts, tail: head + "/".join(parts) + tail,
        st.sampled_from(["./", "../", "", "@/", "~"]),
        st.lists(_segment, max_size=4),
        st.sampled_from(["", "/", ".js", ".ts", ".mjs", ".d"]),
    ),
    st.sampled_from([".", "..", "/a", ""]),
)


@settings(max_examples=300, deadline=None)
@given(
    files=_files,
    importer=st.lists(st.sampled_from(["a", "b", "src"]), max_size=3),
    specifier=_specifier,
    base_url=st.sampled_from([None, ".", "src", "a/b"]),
)
def test_a_result_exists_lies_inside_and_is_a_source(
    files: list[str], importer: list[str], specifier: str, base_url: str | None
) -> None:
    aliases = alias_patterns({"~": "lib"}, (("@/*", ("src/*", "../*", "lib/*")),))
    exists = Files(files)
    r = SpecifierResolver(aliases, base_url, exists)
    from_path = posixpath.join(*importer, "main.ts")
    found = r.resolve(from_path, specifier)
    if found is not None:
        assert found in exists.paths
        assert posixpath.normpath(found) == found
        assert not found.startswith(("../", "/")) and found != ".."
        assert found.endswith(SOURCE_SUFFIXES) and not is_declaration(found)
    # memoized answers equal fresh ones
    assert r.resolve(from_path, specifier) == found
    assert SpecifierResolver(aliases, base_url, exists).resolve(from_path, specifier) == found
    # a bare specifier resolves the same from any file
    if not specifier.startswith("."):
        assert r.resolve("elsewhere/deep/x.ts", specifier) == found


@settings(max_examples=200, deadline=None)
@given(files=_files, importer=st.lists(st.sampled_from(["a", "b", "src"]), max_size=3))
def test_every_source_is_reachable_by_a_relative_specifier(
    files: list[str], importer: list[str]
) -> None:
    r = SpecifierResolver((), None, Files(files))
    directory = posixpath.join(*importer) if importer else ""
    for path in files:
        if is_declaration(path) or not path.endswith(SOURCE_SUFFIXES):
            continue
        relative = posixpath.relpath(path, directory or ".")
        specifier = relative if relative.startswith("../") else f"./{relative}"
        assert r.resolve(posixpath.join(directory, "main.ts"), specifier) == path


@pytest.mark.parametrize("specifier", ["./a", "../a", "@/a", "a", ".", "..", "/a", ""])
def test_unknown_everything_is_none(specifier: str) -> None:
    assert resolver(aliases=(("@/*", ("x/*",)),), base_url=".").resolve("w/m.ts", specifier) is None
