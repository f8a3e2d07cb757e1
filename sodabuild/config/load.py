"""Load, validate, merge and resolve the workspace file and the per-project files.

Errors never escape as tracebacks: every problem becomes a located :class:`Diagnostic`
(file, key path, line and column where the text shows it), raised together in one
:class:`SodabuildError` so that a user sees all config errors of a file at once.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

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
)
from sodabuild.diagnostics import Diagnostic, SodabuildError

PROJECT_FILENAME = "sodabuild.toml"
DEFAULT_OUT_DIR = "__generated__"

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _read_toml(path: Path, root: Path) -> tuple[dict[str, Any], str]:
    display = _rel(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SodabuildError(
            [Diagnostic("CONFIG_TOML", f"not valid UTF-8: {exc.reason}", display, 1, 1)]
        ) from None
    except OSError as exc:
        raise SodabuildError(
            [Diagnostic("CONFIG_NOT_FOUND", f"cannot read config file: {exc.strerror}", display)]
        ) from None
    try:
        return tomllib.loads(text), text
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
) -> list[Diagnostic]:
    grouped: dict[tuple[str | int, ...], list[Any]] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        if data is not None:
            loc = _written_path(data, loc, error["type"] == "missing")
        grouped.setdefault((*prefix, *loc), []).append(error)
    diagnostics = []
    for path, errors in grouped.items():
        dotted = ".".join(str(part) for part in path)
        position = locate(text, path) or (1, 1)
        kinds = {error["type"] for error in errors}
        if "extra_forbidden" in kinds:
            message = f"unknown key '{dotted}'"
            hint = "remove it, or check its spelling against `sodabuild config schema`"
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


def _check_inside(
    value: str, base: Path, root: Path, display: str, text: str, path: tuple[str | int, ...]
) -> Path:
    """``base / value`` resolved; a located CONFIG_PATH_ESCAPE if it leaves the workspace."""
    resolved = (base / value).resolve()
    if PurePosixPath(value).is_absolute() or not resolved.is_relative_to(root):
        line, column = locate(text, path) or (1, 1)
        raise SodabuildError(
            [
                Diagnostic(
                    "CONFIG_PATH_ESCAPE",
                    f"'{'.'.join(str(p) for p in path)}' = {value!r} points outside the workspace root",
                    display,
                    line,
                    column,
                    hint="use a path relative to its config file that stays inside the workspace",
                )
            ]
        )
    return resolved


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
                    hint=f"known plugins: {', '.join(sorted(PLUGINS))}",
                )
            )
            continue
        try:
            model.model_validate(options)
        except ValidationError as exc:
            diagnostics.extend(
                _validation_diagnostics(exc, display, text, ("plugins", name), data=options)
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


def load_workspace(workspace_file: Path) -> ResolvedWorkspace:
    """Load and resolve a workspace: validate both file levels, merge, check paths, hash."""
    ws_file = workspace_file.resolve()
    root = ws_file.parent
    ws_display = _rel(ws_file, root)
    raw, text = _read_toml(ws_file, root)
    try:
        workspace = WorkspaceFile.model_validate(raw)
    except ValidationError as exc:
        raise SodabuildError(_validation_diagnostics(exc, ws_display, text, data=raw)) from None
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
    for (index, project_root), entry in zip(project_roots, workspace.projects, strict=True):
        project_file = project_root / PROJECT_FILENAME
        file_raw: dict[str, Any] = {}
        file_text = ""
        config_files = [ws_display]
        project_display = _rel(project_file, root)
        if project_file.is_file() and project_file != ws_file:
            file_raw, file_text = _read_toml(project_file, root)
            config_files.append(project_display)
        try:
            parsed = ProjectFile.model_validate(file_raw)
        except ValidationError as exc:
            raise SodabuildError(
                _validation_diagnostics(exc, project_display, file_text, data=file_raw)
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
        out_dir = (
            inside(merged.out_dir, "out_dir")
            if merged.out_dir
            else _rel(project_root / DEFAULT_OUT_DIR, root)
        )
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
            plugins[name] = {**ws_plugins.get(name, {}), **project_plugins.get(name, {})}
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
        )
        workspace_projects.append(
            {"name": resolved.name, "root": resolved.root, "source_roots": resolved.source_roots}
        )
        partial.append(resolved)

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
