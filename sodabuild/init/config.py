"""The workspace file ``sodabuild init`` writes: commented TOML, only keys the config
model knows (``config/model.py``), values quoted by tomli_w; written with ``O_EXCL``, so an
existing file is never replaced, whatever happens between the check and the write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sodabuild import __version__
from sodabuild.config.find import WORKSPACE_FILENAME
from sodabuild.init.survey import Project, Survey

#: The comment column of key lines.
COLUMN = 36


def value(data: Any) -> str:
    """``data`` (a string or a list of strings) as a TOML value, on one line."""
    import tomli_w

    if isinstance(data, list):
        return "[" + ", ".join(value(item) for item in data) + "]"
    return tomli_w.dumps({"v": data}).removeprefix("v = ").rstrip("\n")


def line(key: str, data: Any, comment: str = "", *, commented: bool = False) -> str:
    """``key = value`` (``# key = value`` when ``commented``), then ``comment`` aligned."""
    text = f"{'# ' if commented else ''}{key} = {value(data)}"
    return f"{text.ljust(COLUMN - 1)} # {comment}" if comment else text


def workspace_name(survey: Survey) -> str:
    from sodabuild.init.survey import _name

    return _name(survey.root, ".", set())


def config_text(survey: Survey) -> str:
    """The workspace file for ``survey``'s projects."""
    documents = sum(p.calls for p in survey.python)
    marked = sum(p.marked for p in survey.python)
    lines = [
        f"# sodabuild workspace, written by `sodabuild init` (sodabuild {__version__}).",
        "# Build with `sodabuild build`. Every key: the user guide (docs/guide.md, Config),",
        "# or `sodabuild config schema` for a JSON Schema your editor can complete from.",
        f"# Found: {_count(len(survey.schemas), 'schema file')}, "
        f"{_count(documents, 'gql() call')} and {_count(marked, 'marked string')} in "
        f"{_count(len(survey.python), 'Python file')}, "
        f"{_count(len(survey.graphql), '.graphql file')} with operations or fragments.",
        "",
        "[workspace]",
        line("name", workspace_name(survey)),
        line("cache_dir", ".cache/sodabuild", "the build cache: add it to .gitignore"),
        "",
        "[plugins.graphql]",
        "# Where `gql` comes from: `from <module> import gql`, or `import <module>` and then",
        "# `<module>.gql(...)`. A gql() from another module is not a document.",
        line("gql_modules", survey.gql_modules),
    ]
    for project in survey.projects:
        lines += ["", *_project_lines(project)]
    return "\n".join(lines) + "\n"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _project_lines(project: Project) -> list[str]:
    python = len(project.python)
    graphql = len(project.graphql)
    lines = [
        f"# {project.name}: {_count(python, 'Python file')} and "
        f"{_count(graphql, 'GraphQL file')} with documents.",
        "[[projects]]",
        line("name", project.name),
        line("root", project.root, "relative to this file"),
    ]
    if project.has_project_file:
        lines.append(f"# its other settings are in {project.root}/sodabuild.toml")
        return lines
    if len(project.schemas) == 1:
        lines.append(line("schema", project.relative(project.schemas[0]), "relative to the root"))
    elif project.schemas:
        lines.append("# the SDL files below are joined into one schema")
        lines.append(line("schema", [project.relative(s) for s in project.schemas]))
    else:
        lines.append(line("schema", "schema.graphql", "TODO: no schema found", commented=True))
    lines.append('# include = ["**/*.py", "**/*.graphql", "**/*.gql"]  # the default: every source')
    if project.exclude:
        lines.append(line("exclude", project.exclude, "not walked by init; the build would"))
    if project.source_roots:
        lines.append(line("source_roots", project.source_roots, "where top-level packages live"))
    lines.append(line("out_dir", "__generated__", "the default", commented=True))
    lines.append(
        '# how a spread finds its fragment: "imports" (passed to gql(), or in the document),'
    )
    lines.append(
        '# "names" (by name among the project\'s fragments) or "both" (imports, then names)'
    )
    lines.append(line("fragments", "both"))
    return lines


def write_exclusive(path: Path, text: str) -> None:
    """Create ``path`` with ``text``; FileExistsError if anything is there already."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def target(directory: Path) -> Path:
    return directory / WORKSPACE_FILENAME
