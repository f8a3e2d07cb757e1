"""Load, validate, merge and resolve the workspace file and the per-project files.

Errors never escape as tracebacks: every problem becomes a located :class:`Diagnostic`
(file, key path, line and column where the text shows it), raised together in one
:class:`SodabuildError` so that a user sees all config errors of a file at once.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import xxhash
from pydantic import BaseModel, ValidationError

from sodabuild.config.locate import locate
from sodabuild.config.model import (
    DEFAULT_EXTENSIONS,
    PLUGINS,
    PROJECT_KEYS,
    ProjectFile,
    ProjectSettings,
    ResolvedProject,
    ResolvedWorkspace,
    WorkspaceFile,
    keys_at,
)
from sodabuild.diagnostics import Diagnostic, SodabuildError
from sodabuild.render.suggestion import did_you_mean

if TYPE_CHECKING:
    from sodabuild.config.tsconfig import TsConfig

PROJECT_FILENAME = "sodabuild.toml"
DEFAULT_OUT_DIR = "__generated__"
#: Longest path (bytes, with its terminating NUL: PATH_MAX) and file name (NAME_MAX).
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
#: Largest config file read.
MAX_CONFIG_BYTES = 1 << 20

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _read_toml(path: Path, root: Path) -> tuple[dict[str, Any], str]:
    display = _rel(path, root)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SodabuildError(
                [Diagnostic("CONFIG_INVALID", "config file is not a regular file", display)]
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise SodabuildError(
                [
                    Diagnostic(
                        "CONFIG_INVALID",
                        f"config file is too large ({info.st_size} bytes,"
                        f" at most {MAX_CONFIG_BYTES})",
                        display,
                    )
                ]
            )
        with open(path, "rb") as handle:
            text = handle.read(MAX_CONFIG_BYTES + 1).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SodabuildError(
            [Diagnostic("CONFIG_TOML", f"not valid UTF-8: {exc.reason}", display, 1, 1)]
        ) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SodabuildError(
            [Diagnostic("CONFIG_NOT_FOUND", f"cannot read config file: {reason}", display)]
        ) from None
    try:
        return tomllib.loads(text), text
    except RecursionError:
        raise SodabuildError(
            [
                Diagnostic(
                    "CONFIG_TOML",
                    "malformed TOML: arrays or tables are nested too deeply",
                    display,
                    1,
                    1,
                    hint="flatten the nested arrays or inline tables",
                )
            ]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        line, column = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
        reason = _TOML_POSITION.sub("", message).strip()
        raise SodabuildError(
            [
                Diagnostic(
                    "CONFIG_TOML",
                    f"malformed TOML: {reason}",
                    display,
                    line,
                    column,
                    hint="check quoting, brackets and that every key has a value",
                )
            ]
        ) from None


def _child(node: Any, part: str | int) -> tuple[bool, Any]:
    if isinstance(node, dict):
        return part in node, node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _written_path(data: Any, loc: tuple[str | int, ...], missing: bool) -> tuple[str | int, ...]:
    """``loc`` cut where it stops naming data (pydantic adds union member tags to it)."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        found, child = _child(node, part)
        if not found and not (missing and index == len(loc) - 1):
            break
        node = child
        path.append(part)
    return tuple(path)


def _validation_diagnostics(
    exc: ValidationError,
    display: str,
    text: str,
    prefix: tuple[str | int, ...] = (),
    data: Any = None,
    model: type[BaseModel] | None = None,
) -> list[Diagnostic]:
    """Located diagnostics of a validation of ``data`` (written at ``prefix`` of the file)
    against ``model``; an unknown key's hint names the known key it is closest to."""
    grouped: dict[tuple[str | int, ...], list[Any]] = {}
    known: dict[tuple[str | int, ...], list[str]] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        if data is not None:
            loc = _written_path(data, loc, error["type"] == "missing")
        grouped.setdefault((*prefix, *loc), []).append(error)
        if model is not None and error["type"] == "extra_forbidden" and loc:
            known[(*prefix, *loc)] = keys_at(model, loc[:-1])
    diagnostics = []
    for path, errors in grouped.items():
        dotted = ".".join(str(part) for part in path)
        position = locate(text, path) or (1, 1)
        kinds = {error["type"] for error in errors}
        if "extra_forbidden" in kinds:
            message = f"unknown key '{dotted}'"
            hint = did_you_mean(str(path[-1]), known.get(path, ())) if path else None
            hint = hint or "remove it, or check its spelling against `sodabuild config schema`"
        elif "missing" in kinds:
            message = f"missing required key '{dotted}'"
            hint = None
        else:
            reasons = " or ".join(dict.fromkeys(str(error["msg"]) for error in errors))
            message = f"invalid value for '{dotted}': {reasons}"
            hint = "see `sodabuild config schema` for the expected types"
        diagnostics.append(
            Diagnostic("CONFIG_INVALID", message, display, position[0], position[1], hint)
        )
    return diagnostics


def _known(name: str, names: Iterable[str], what: str) -> str:
    """``known X: a, b``, led by ``did you mean 'a'?`` when one of them is close to ``name``."""
    listed = f"{what}: {', '.join(sorted(names))}"
    close = did_you_mean(name, names)
    return f"{close} ({listed})" if close else listed


def _located(
    code: str,
    message: str,
    display: str,
    text: str,
    path: tuple[str | int, ...],
    hint: str | None = None,
) -> Diagnostic:
    line, column = locate(text, path) or (1, 1)
    return Diagnostic(code, message, display, line, column, hint)


def _shown(value: str) -> str:
    """``value`` for a message: quoted, control characters escaped, at most ~80 characters."""
    return repr(value if len(value) <= 80 else value[:60] + "..." + value[-10:])


def _path_problem(value: str, joined: str) -> str | None:
    """Why ``value`` (``joined`` once anchored) can name no file on this system, or None."""
    if "\x00" in value:
        return "contains a NUL byte"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "contains a control character"
    try:
        encoded = os.fsencode(joined)
    except UnicodeError:
        return "cannot be encoded as a file name"
    if len(encoded) >= MAX_PATH_BYTES:
        return f"is too long (a path has at most {MAX_PATH_BYTES - 1} bytes)"
    if any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")):
        return f"has a component longer than {MAX_NAME_BYTES} bytes"
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _real_inside(joined: str, root: str) -> str | None:
    """The real path of ``joined`` if neither it nor any component of it that lies inside
    ``root`` leads outside ``root`` through a symlink; else None."""
    base, _, rest = joined.partition(root.rstrip("/") + "/") if joined != root else ("", "", "")
    current = root
    if base == "" and rest:
        for part in rest.split("/"):
            if part in ("", "."):
                continue
            current = os.path.join(current, part)
            if _inside(os.path.normpath(current), root) and not _inside(
                os.path.realpath(current), root
            ):
                return None
    real = os.path.realpath(joined)
    return real if _inside(real, root) else None


def _check_inside(
    value: str, base: Path, root: Path, display: str, text: str, path: tuple[str | int, ...]
) -> Path:
    """``base / value`` resolved (symlinks followed); a located CONFIG_INVALID if it names
    no possible file, a CONFIG_PATH_ESCAPE if it, or a symlink on its way, leaves the
    workspace."""
    dotted = ".".join(str(p) for p in path)
    joined = os.path.join(os.fspath(base), value)
    problem = _path_problem(value, joined)
    if problem is not None:
        raise SodabuildError(
            [
                _located(
                    "CONFIG_INVALID",
                    f"'{dotted}' = {_shown(value)} {problem}",
                    display,
                    text,
                    path,
                    hint="use a short relative path of plain characters",
                )
            ]
        )
    try:
        real = None if PurePosixPath(value).is_absolute() else _real_inside(joined, os.fspath(root))
    except (OSError, ValueError) as exc:
        raise SodabuildError(
            [
                _located(
                    "CONFIG_INVALID",
                    f"'{dotted}' = {_shown(value)} cannot be resolved: {exc}",
                    display,
                    text,
                    path,
                )
            ]
        ) from None
    if real is None:
        raise SodabuildError(
            [
                _located(
                    "CONFIG_PATH_ESCAPE",
                    f"'{dotted}' = {_shown(value)} points outside the workspace root",
                    display,
                    text,
                    path,
                    hint="use a path relative to its config file that stays inside the workspace",
                )
            ]
        )
    return Path(real)


#: Plugin options that are tables merged key by key (workspace, then project).
_MERGED_OPTIONS = frozenset({"scalars"})


def _merged_options(workspace: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    """A project's options over the workspace's: the project's value wins for the same
    key; tables in ``_MERGED_OPTIONS`` (``scalars``) are merged entry by entry."""
    merged = {**workspace, **project}
    for key in _MERGED_OPTIONS & workspace.keys() & project.keys():
        if isinstance(workspace[key], dict) and isinstance(project[key], dict):
            merged[key] = {**workspace[key], **project[key]}
    return merged


def _plugin_options(
    plugins: dict[str, dict[str, Any]], display: str, text: str
) -> dict[str, dict[str, Any]]:
    checked: dict[str, dict[str, Any]] = {}
    diagnostics: list[Diagnostic] = []
    for name, options in sorted(plugins.items()):
        model = PLUGINS.get(name)
        if model is None:
            line, column = locate(text, ("plugins", name)) or (1, 1)
            diagnostics.append(
                Diagnostic(
                    "CONFIG_INVALID",
                    f"unknown plugin '{name}'",
                    display,
                    line,
                    column,
                    hint=_known(name, PLUGINS, "known plugins"),
                )
            )
            continue
        try:
            model.model_validate(options)
        except ValidationError as exc:
            diagnostics.extend(
                _validation_diagnostics(
                    exc, display, text, ("plugins", name), data=options, model=model
                )
            )
            continue
        checked[name] = options
    if diagnostics:
        raise SodabuildError(diagnostics)
    return checked


def _hash(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=list)
    return xxhash.xxh3_64_hexdigest(data.encode())


def slice_hashes(
    project: ResolvedProject, workspace_projects: list[dict[str, Any]]
) -> dict[str, str]:
    """xxh3 hashes of the parts of a project's config that each stage reads."""
    hashes = {
        "discovery": _hash(
            {
                "root": project.root,
                "include": project.include,
                "exclude": project.exclude,
                "extensions": project.extensions,
            }
        ),
        "resolution": _hash(
            {
                "root": project.root,
                "source_roots": project.source_roots,
                "aliases": project.aliases,
                "projects": workspace_projects,
                "fragments": project.fragments,
                "ts_base_url": project.ts_base_url,
                "ts_paths": project.ts_paths,
            }
        ),
        "codegen": _hash(
            {
                "out_dir": project.out_dir,
                "schema": project.schema_paths,
                "rules": project.rules,
            }
        ),
    }
    for name in sorted(PLUGINS):
        options = PLUGINS[name].model_validate(project.plugins.get(name, {}))
        hashes[f"plugin:{name}"] = _hash(options.model_dump(mode="json"))
    return hashes


def _project_settings(
    entry_values: dict[str, Any],
    file_values: dict[str, Any],
    *,
    ws_display: str,
    ws_text: str,
    ws_path: tuple[str | int, ...],
    project_display: str,
    project_text: str,
) -> dict[str, Any]:
    conflicts = sorted(set(entry_values) & set(file_values))
    if conflicts:
        diagnostics = []
        for key in conflicts:
            line, column = locate(project_text, ("project", key)) or (1, 1)
            ws_line, _ = locate(ws_text, (*ws_path, key)) or (1, 1)
            diagnostics.append(
                Diagnostic(
                    "CONFIG_CONFLICT",
                    f"'{key}' is set here and inline in the workspace ({ws_display}:{ws_line})",
                    project_display,
                    line,
                    column,
                    hint="set each project key in one place only",
                )
            )
        raise SodabuildError(diagnostics)
    return {**entry_values, **file_values}


def _contains(outer: str, inner: str) -> bool:
    """Whether workspace-relative ``inner`` is ``outer`` or lies inside it."""
    return outer == "." or inner == outer or inner.startswith(outer + "/")


def _check_overlaps(
    root: Path,
    cache_dir: str,
    cache_where: tuple[str, str, tuple[str | int, ...]],
    projects: list[ResolvedProject],
    rule_dirs: tuple[str, ...],
    out_dirs: list[tuple[str, str, str, tuple[str, str, tuple[str | int, ...]]]],
) -> None:
    """CONFIG_OVERLAP where the cache dir or an out_dir is, or contains, what must survive:
    ``clean`` deletes the cache dir (so it may hold no input: roots, source roots, alias
    and rule directories, schema files), the stale-chunk sweep deletes *.json files in
    out_dirs and discovery never enters either (so an out_dir may hold no root, source
    root or alias directory); the cache dir and the out_dirs are pairwise disjoint. All
    paths are workspace-relative and real."""
    kept: list[tuple[str, str]] = [(".", "the workspace root")]
    for project in projects:
        kept.append((project.root, f"the root of project '{project.name}'"))
    for project in projects:
        for source_root in project.source_roots:
            kept.append((source_root, f"source root {source_root!r} of project '{project.name}'"))
        for prefix, directory in project.aliases.items():
            kept.append((directory, f"the directory {directory!r} of alias '{prefix}'"))
    # `clean` deletes the whole cache dir: it may hold no input at all
    cache_kept = [
        *kept,
        *(
            (schema, f"schema file {schema!r} of project '{project.name}'")
            for project in projects
            for schema in project.schema_paths
        ),
        *((directory, f"rule directory {directory!r}") for directory in rule_dirs),
    ]
    hint = (
        "the cache dir is deleted by `sodabuild clean` and out_dirs are swept of stale files"
        " and never scanned: give each a directory of its own (default: .cache/sodabuild,"
        " <project root>/__generated__)"
    )
    diagnostics: list[Diagnostic] = []

    def first_clash(directory: str, others: list[tuple[str, str]]) -> tuple[str, str] | None:
        for other, what in others:
            if _contains(directory, other):
                return other, what
        return None

    out_kept = [(out, f"the out_dir of project '{name}'") for name, out, _, _ in out_dirs]
    clash = first_clash(cache_dir, [*cache_kept, *out_kept])
    if clash is not None:
        other, what = clash
        verb = "is" if other == cache_dir else "contains"
        diagnostics.append(
            _located(
                "CONFIG_OVERLAP",
                f"'workspace.cache_dir' = {cache_dir!r} {verb} {what}",
                *cache_where,
                hint=hint,
            )
        )
    for index, (name, out_dir, label, out_where) in enumerate(out_dirs):
        others = [
            (other, what)
            for position, (other_name, other, _, _) in enumerate(out_dirs)
            if other_name != name and (other != out_dir or position < index)
            for what in [f"the out_dir of project '{other_name}'"]
        ]
        # an out_dir equal to the cache dir is reported once, at cache_dir
        cache = [(cache_dir, "the cache dir")] if cache_dir != out_dir else []
        clash = first_clash(out_dir, [*kept, *cache, *others])
        if clash is None:
            continue
        other, what = clash
        verb = "is" if other == out_dir else "contains"
        diagnostics.append(
            _located(
                "CONFIG_OVERLAP",
                f"{label} ({out_dir!r}) {verb} {what}",
                *out_where,
                hint=hint,
            )
        )
    if diagnostics:
        raise SodabuildError(diagnostics)


def _project_tsconfig(root: Path, project_root: str) -> TsConfig | None:
    """The project's tsconfig.json (``paths``, ``baseUrl``, what it ``extends``), if any."""
    if not os.path.lexists(os.path.join(root, project_root, "tsconfig.json")):
        return None
    from sodabuild.config.tsconfig import TsConfigError, read_tsconfig

    try:
        return read_tsconfig(root, project_root)
    except TsConfigError as exc:
        raise SodabuildError([exc.diagnostic()]) from None


def load_workspace(workspace_file: Path) -> ResolvedWorkspace:
    """Load and resolve a workspace: validate both file levels, merge, check paths, hash.

    Problems raise one :class:`SodabuildError` whose ``root`` is the workspace root (the
    diagnostics' files are relative to it)."""
    ws_file = workspace_file.resolve()
    try:
        return _load_workspace(ws_file)
    except SodabuildError as exc:
        exc.root = exc.root or str(ws_file.parent)
        raise


def _load_workspace(ws_file: Path) -> ResolvedWorkspace:
    root = ws_file.parent
    ws_display = _rel(ws_file, root)
    raw, text = _read_toml(ws_file, root)
    try:
        workspace = WorkspaceFile.model_validate(raw)
    except ValidationError as exc:
        raise SodabuildError(
            _validation_diagnostics(exc, ws_display, text, data=raw, model=WorkspaceFile)
        ) from None
    ws_plugins = _plugin_options(workspace.plugins, ws_display, text)

    cache_dir = _check_inside(
        workspace.workspace.cache_dir, root, root, ws_display, text, ("workspace", "cache_dir")
    )
    rule_dirs = tuple(
        _rel(_check_inside(d, root, root, ws_display, text, ("workspace", "rule_dirs", i)), root)
        for i, d in enumerate(workspace.workspace.rule_dirs)
    )
    ws_aliases = {
        prefix: _rel(_check_inside(d, root, root, ws_display, text, ("aliases", prefix)), root)
        for prefix, d in workspace.aliases.items()
    }

    seen_names: dict[str, int] = {}
    diagnostics: list[Diagnostic] = []
    for index, entry in enumerate(workspace.projects):
        if entry.name in seen_names:
            line, column = locate(text, ("projects", index, "name")) or (1, 1)
            diagnostics.append(
                Diagnostic(
                    "CONFIG_INVALID",
                    f"duplicate project name '{entry.name}'",
                    ws_display,
                    line,
                    column,
                    hint="give every [[projects]] entry a unique name",
                )
            )
        seen_names.setdefault(entry.name, index)
    if diagnostics:
        raise SodabuildError(diagnostics)

    project_roots: list[tuple[int, Path]] = []
    for index, entry in enumerate(workspace.projects):
        project_root = _check_inside(
            entry.root, root, root, ws_display, text, ("projects", index, "root")
        )
        if not project_root.is_dir():
            line, column = locate(text, ("projects", index, "root")) or (1, 1)
            raise SodabuildError(
                [
                    Diagnostic(
                        "CONFIG_INVALID",
                        f"project root {entry.root!r} of '{entry.name}' is not a directory",
                        ws_display,
                        line,
                        column,
                    )
                ]
            )
        project_roots.append((index, project_root))

    workspace_projects: list[dict[str, Any]] = []
    partial: list[ResolvedProject] = []
    out_dirs: list[tuple[str, str, str, tuple[str, str, tuple[str | int, ...]]]] = []
    for (index, project_root), entry in zip(project_roots, workspace.projects, strict=True):
        project_file = project_root / PROJECT_FILENAME
        file_raw: dict[str, Any] = {}
        file_text = ""
        config_files = [ws_display]
        project_display = _rel(project_file, root)
        if (
            project_file != ws_file
            and os.path.lexists(project_file)
            and not _inside(os.path.realpath(project_file), os.fspath(root))
        ):
            raise SodabuildError(
                [
                    _located(
                        "CONFIG_PATH_ESCAPE",
                        f"project file {project_display!r} of '{entry.name}' is a symlink"
                        " to a path outside the workspace root",
                        ws_display,
                        text,
                        ("projects", index, "root"),
                        hint="replace the symlink by the project file itself",
                    )
                ]
            )
        if project_file.is_file() and project_file != ws_file:
            file_raw, file_text = _read_toml(project_file, root)
            config_files.append(project_display)
        try:
            parsed = ProjectFile.model_validate(file_raw)
        except ValidationError as exc:
            raise SodabuildError(
                _validation_diagnostics(
                    exc, project_display, file_text, data=file_raw, model=ProjectFile
                )
            ) from None
        project_plugins = _plugin_options(parsed.plugins, project_display, file_text)

        entry_values = entry.model_dump(by_alias=True, exclude_unset=True, exclude={"name", "root"})
        file_values = parsed.project.model_dump(by_alias=True, exclude_unset=True)
        merged = ProjectSettings.model_validate(
            _project_settings(
                entry_values,
                file_values,
                ws_display=ws_display,
                ws_text=text,
                ws_path=("projects", index),
                project_display=project_display,
                project_text=file_text,
            )
        )
        where: dict[str, tuple[str, str, tuple[str | int, ...]]] = {
            key: (project_display, file_text, ("project", key)) for key in file_values
        }
        for key in entry_values:
            where[key] = (ws_display, text, ("projects", index, key))

        def inside(
            value: str,
            key: str,
            item: int | None = None,
            *,
            where: dict[str, tuple[str, str, tuple[str | int, ...]]] = where,
            project_root: Path = project_root,
            default: tuple[str, str] = (project_display, file_text),
        ) -> str:
            display, source, path = where.get(key, (*default, ("project", key)))
            full = path if item is None else (*path, item)
            return _rel(_check_inside(value, project_root, root, display, source, full), root)

        schema_value = merged.schema_paths
        schema_list = [schema_value] if isinstance(schema_value, str) else list(schema_value or [])
        schema_paths = tuple(
            inside(p, "schema", None if isinstance(schema_value, str) else i)
            for i, p in enumerate(schema_list)
        )
        for i, pattern in enumerate([*(merged.include or []), *(merged.exclude or [])]):
            if any(ord(char) < 32 or ord(char) == 127 for char in pattern):
                key = "include" if i < len(merged.include or []) else "exclude"
                display, source, path = where[key]
                raise SodabuildError(
                    [
                        _located(
                            "CONFIG_INVALID",
                            f"glob {_shown(pattern)} in '{key}' contains a NUL byte or"
                            " another control character",
                            display,
                            source,
                            path,
                        )
                    ]
                )
            if PurePosixPath(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
                key = "include" if i < len(merged.include or []) else "exclude"
                display, source, path = where[key]
                line, column = locate(source, path) or (1, 1)
                raise SodabuildError(
                    [
                        Diagnostic(
                            "CONFIG_PATH_ESCAPE",
                            f"glob {pattern!r} in '{key}' may match outside the project root",
                            display,
                            line,
                            column,
                            hint="globs are relative to the project root and may not use '..'",
                        )
                    ]
                )
        source_roots = tuple(
            inside(p, "source_roots", i) for i, p in enumerate(merged.source_roots or ["."])
        )
        if merged.out_dir:
            out_dir = inside(merged.out_dir, "out_dir")
            out_where = (*where.get("out_dir", (project_display, file_text, ())),)
            out_label = f"out_dir {merged.out_dir!r} of project '{entry.name}'"
        else:
            # the default out_dir is checked like a written one (it may be a symlink)
            out_where = (ws_display, text, ("projects", index, "root"))
            out_label = f"the default out_dir {DEFAULT_OUT_DIR!r} of project '{entry.name}'"
            default_out = _real_inside(os.path.join(project_root, DEFAULT_OUT_DIR), str(root))
            if default_out is None:
                raise SodabuildError(
                    [
                        _located(
                            "CONFIG_PATH_ESCAPE",
                            f"{out_label} points outside the workspace root (a symlink)",
                            *out_where,
                            hint="remove the symlink, or set out_dir to a directory inside"
                            " the workspace",
                        )
                    ]
                )
            out_dir = _rel(Path(default_out), root)
        out_dirs.append((entry.name, out_dir, out_label, out_where))
        project_aliases = {
            prefix: _rel(
                _check_inside(
                    d, project_root, root, project_display, file_text, ("aliases", prefix)
                ),
                root,
            )
            for prefix, d in parsed.aliases.items()
        }
        plugins: dict[str, dict[str, Any]] = {}
        for name in sorted(set(ws_plugins) | set(project_plugins)):
            plugins[name] = _merged_options(ws_plugins.get(name, {}), project_plugins.get(name, {}))
        tsconfig = _project_tsconfig(root, _rel(project_root, root))
        if tsconfig is not None:
            config_files.extend(f for f in tsconfig.files if f not in config_files)
        resolved = ResolvedProject(
            name=entry.name,
            root=_rel(project_root, root),
            config_files=tuple(config_files),
            schema_paths=schema_paths,
            include=tuple(merged.include) if merged.include is not None else None,
            exclude=tuple(merged.exclude or ()),
            source_roots=source_roots,
            out_dir=out_dir,
            rules=tuple(merged.rules or ("graphql",)),
            aliases=dict(sorted({**ws_aliases, **project_aliases}.items())),
            extensions=dict(
                sorted({**DEFAULT_EXTENSIONS, **workspace.extensions, **parsed.extensions}.items())
            ),
            plugins=plugins,
            fragments=merged.fragments or "both",
            ts_base_url=tsconfig.base_url if tsconfig is not None else None,
            ts_paths=tsconfig.paths if tsconfig is not None else (),
        )
        workspace_projects.append(
            {"name": resolved.name, "root": resolved.root, "source_roots": resolved.source_roots}
        )
        partial.append(resolved)

    _check_overlaps(
        root,
        _rel(cache_dir, root),
        (ws_display, text, ("workspace", "cache_dir")),
        partial,
        rule_dirs,
        out_dirs,
    )
    projects = tuple(
        resolved.model_copy(update={"hashes": slice_hashes(resolved, workspace_projects)})
        for resolved in partial
    )
    return ResolvedWorkspace(
        root=os.fspath(root),
        file=ws_display,
        name=workspace.workspace.name,
        cache_dir=_rel(cache_dir, root),
        rule_dirs=rule_dirs,
        projects=projects,
        max_file_bytes=workspace.workspace.max_file_bytes,
        remote_cache=workspace.workspace.remote_cache,
    )


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of both config files, for editor completion."""

    defs: dict[str, Any] = {}

    def schema_of(model: type[BaseModel]) -> dict[str, Any]:
        """The model's schema; its $defs move to the root, where every $ref points."""
        schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        return schema

    plugins = {name: schema_of(model) for name, model in sorted(PLUGINS.items())}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sodabuild configuration",
        "oneOf": [
            {**schema_of(WorkspaceFile), "title": "workspace file"},
            {**schema_of(ProjectFile), "title": "project file"},
        ],
        "$defs": dict(sorted(defs.items())),
        "x-project-keys": list(PROJECT_KEYS),
        "x-plugins": plugins,
    }
