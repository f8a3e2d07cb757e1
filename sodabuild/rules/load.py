"""Evaluate Starlark rule files with starlark-pyo3 and collect the rules they declare.

Rule files get host constructors (``rule``, ``discovery``, ``pruning_filter``,
``artifact_output``, ``manifest_output``, ``chunk_output``); ``load()`` resolves paths
relative to the loading file, or ``@builtin//name.star`` for the built-in rule directory.
Evaluation is hermetic (no I/O besides ``load``) and each file is evaluated once.
Errors become diagnostics located at ``file:line:col`` (parsed from starlark's message, the
only part of an exception that crosses the Rust boundary).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import starlark as sl
from pydantic import ValidationError

from sodabuild.diagnostics import Diagnostic, SodabuildError
from sodabuild.rules.model import Discovery, Output, PruningFilter, Rule

BUILTIN_PREFIX = "@builtin//"
BUILTIN_DISPLAY = "<builtin>"
_LOCATION = re.compile(r"-->\s*(.+?):(\d+):(\d+)")
_INVALID_MARK = "RULE_INVALID: "
_KIND = "__sodabuild_kind__"


def builtin_rules_dir() -> Path:
    """The built-in rule directory: packaged copy in a wheel, ``rules/`` in a checkout."""
    package_dir = Path(__file__).resolve().parent.parent
    packaged = package_dir / "_builtin_rules"
    if packaged.is_dir():
        return packaged
    return package_dir.parent / "rules"


@dataclass
class RuleSet:
    """All rules known to a workspace, by name, and the files they came from."""

    rules: dict[str, Rule] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def get(self, name: str) -> Rule | None:
        return self.rules.get(name)


def _invalid(message: str) -> ValueError:
    return ValueError(_INVALID_MARK + message)


def _tagged(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    return {_KIND: kind, **values}


def _untag(value: Any, kind: str, argument: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get(_KIND) != kind:
        raise _invalid(f"'{argument}' must be made by {kind}(...)")
    return {k: v for k, v in value.items() if k != _KIND}


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def _tuples(value: Any) -> Any:
    """Starlark lists arrive as Python lists; the frozen models take tuples."""
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _checked(model: Any, values: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(model.model_validate(_tuples(values)).model_dump(mode="json"))
    except ValidationError as exc:
        raise _invalid(_pydantic_message(exc)) from None


class _Evaluator:
    def __init__(self, workspace_root: Path, search_dirs: list[Path]) -> None:
        self.workspace_root = workspace_root
        self.builtin = builtin_rules_dir().resolve()
        self.search_dirs = [self.builtin, *(d.resolve() for d in search_dirs)]
        self.frozen: dict[Path, Any] = {}
        self.in_progress: list[Path] = []
        self.rules: dict[str, Rule] = {}
        self.diagnostics: list[Diagnostic] = []

    def display(self, path: Path) -> str:
        if path.is_relative_to(self.builtin):
            return f"{BUILTIN_DISPLAY}/{path.relative_to(self.builtin).as_posix()}"
        try:
            return path.relative_to(self.workspace_root).as_posix()
        except ValueError:
            return path.as_posix()

    def resolve_load(self, target: str, current: Path) -> Path:
        if target.startswith(BUILTIN_PREFIX):
            path = (self.builtin / target[len(BUILTIN_PREFIX) :]).resolve()
        else:
            path = (current.parent / target).resolve()
        if not any(path.is_relative_to(d) for d in self.search_dirs):
            raise FileNotFoundError(f"load({target!r}) leaves the rule directories")
        if not path.is_file():
            raise FileNotFoundError(f"load({target!r}): no such rule file")
        return path

    def host_functions(self, path: Path, source: str) -> dict[str, Callable[..., Any]]:
        display = self.display(path)

        def discovery(**kwargs: Any) -> dict[str, Any]:
            return _tagged("discovery", _checked(Discovery, kwargs))

        def pruning_filter(**kwargs: Any) -> dict[str, Any]:
            return _tagged("pruning_filter", _checked(PruningFilter, kwargs))

        def output(kind: str) -> Callable[..., dict[str, Any]]:
            def make(**kwargs: Any) -> dict[str, Any]:
                return _tagged("output", _checked(Output, {"kind": kind, **kwargs}))

            return make

        def rule(**kwargs: Any) -> str:
            values = dict(kwargs)
            if "discovery" in values:
                values["discovery"] = _untag(values["discovery"], "discovery", "discovery")
            if "pruning" in values:
                values["pruning"] = _untag(values["pruning"], "pruning_filter", "pruning")
            if "outputs" in values:
                if not isinstance(values["outputs"], list):
                    raise _invalid("'outputs' must be a list of *_output(...) values")
                values["outputs"] = tuple(_untag(o, "output", "outputs") for o in values["outputs"])
            name = values.get("name")
            line = _declaration_line(source, name) if isinstance(name, str) else 0
            values.update(file=display, line=line)
            try:
                declared = Rule.model_validate(_tuples(values))
            except ValidationError as exc:
                raise _invalid(_pydantic_message(exc)) from None
            previous = self.rules.get(declared.name)
            if previous is not None:
                raise _invalid(
                    f"RULE_DUPLICATE rule '{declared.name}' is already defined at "
                    f"{previous.file}:{previous.line}"
                )
            self.rules[declared.name] = declared
            return declared.name

        return {
            "rule": rule,
            "discovery": discovery,
            "pruning_filter": pruning_filter,
            "artifact_output": output("artifact"),
            "manifest_output": output("manifest"),
            "chunk_output": output("chunks"),
        }

    def evaluate(self, path: Path) -> Any:
        path = path.resolve()
        if path in self.frozen:
            return self.frozen[path]
        if path in self.in_progress:
            cycle = " -> ".join(self.display(p) for p in [*self.in_progress, path])
            raise FileNotFoundError(f"load cycle: {cycle}")
        self.in_progress.append(path)
        try:
            source = path.read_text(encoding="utf-8")
            ast = sl.parse(self.display(path), source)
            module = sl.Module()
            for name, function in self.host_functions(path, source).items():
                module.add_callable(name, function)

            def load(target: str) -> Any:
                return self.evaluate(self.resolve_load(target, path))

            sl.eval(module, ast, sl.Globals.standard(), sl.FileLoader(load))
            frozen = module.freeze()
        finally:
            self.in_progress.pop()
        self.frozen[path] = frozen
        return frozen


def _declaration_line(source: str, name: str) -> int:
    match = re.search(r"""name\s*=\s*["']""" + re.escape(name) + r"""["']""", source)
    return source.count("\n", 0, match.start()) + 1 if match else 1


def _diagnostic_from(exc: Exception, fallback_file: str) -> Diagnostic:
    text = str(exc)
    # The first location is the innermost one: the root cause inside a loaded file.
    locations = _LOCATION.findall(text)
    file, line, column = (
        (locations[0][0], int(locations[0][1]), int(locations[0][2]))
        if locations
        else (fallback_file, 1, 1)
    )
    summary = ""
    for raw in text.splitlines():
        if raw.startswith("error:"):
            summary = raw[len("error:") :].strip()
            break
    if not summary:
        summary = text.strip().splitlines()[0] if text.strip() else "rule evaluation failed"
    code = "RULE_ERROR"
    stripped = True
    while stripped:
        stripped = False
        for prefix in ("StarlarkError: ", "error: ", "ValueError: ", "FileNotFoundError: "):
            if summary.startswith(prefix):
                summary, stripped = summary[len(prefix) :], True
    if summary.startswith(_INVALID_MARK):
        summary = summary[len(_INVALID_MARK) :]
        code = "RULE_INVALID"
        if summary.startswith("RULE_DUPLICATE "):
            code, summary = "RULE_DUPLICATE", summary[len("RULE_DUPLICATE ") :]
    hints = {
        "RULE_ERROR": "fix the Starlark code at this location",
        "RULE_INVALID": "see docs/guide.md#rules for the constructors and their arguments",
        "RULE_DUPLICATE": "rename one of the rules",
    }
    return Diagnostic(code, summary, file, line, column, hints[code])


def load_rules(workspace_root: Path, rule_dirs: list[str]) -> RuleSet:
    """Evaluate every ``*.star`` file of the built-in and workspace rule directories."""
    evaluator = _Evaluator(workspace_root, [workspace_root / d for d in rule_dirs])
    files: list[Path] = []
    for directory in evaluator.search_dirs:
        if directory.is_dir():
            files.extend(sorted(directory.rglob("*.star")))
        elif directory != evaluator.builtin:
            raise SodabuildError(
                [
                    Diagnostic(
                        "CONFIG_INVALID",
                        f"rule directory '{evaluator.display(directory)}' does not exist",
                        evaluator.display(workspace_root / "sodabuild.toml"),
                        hint="create it or remove it from [workspace] rule_dirs",
                    )
                ]
            )
    diagnostics: dict[tuple[str | None, int | None, int | None, str], Diagnostic] = {}
    for path in files:
        try:
            evaluator.evaluate(path)
        except (sl.StarlarkError, OSError, UnicodeDecodeError) as exc:
            found = _diagnostic_from(exc, evaluator.display(path))
            diagnostics.setdefault((found.file, found.line, found.column, found.message), found)
    if diagnostics:
        raise SodabuildError(list(diagnostics.values()))
    return RuleSet(
        rules=dict(sorted(evaluator.rules.items())),
        files=[evaluator.display(p) for p in files],
    )
