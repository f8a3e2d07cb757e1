"""Evaluate Starlark rule files with starlark-pyo3 and collect the rules they declare.

Rule files get host constructors (``rule``, ``discovery``, ``pruning_filter``,
``artifact_output``, ``manifest_output``, ``chunk_output``); ``load()`` resolves paths
relative to the loading file, or ``@builtin//name.star`` for the built-in rule directory.
Evaluation is hermetic (no I/O besides ``load``) and each file is evaluated once.
Errors become diagnostics located at ``file:line:col`` (parsed from starlark's message, the
only part of an exception that crosses the Rust boundary).

Rule files come from untrusted checkouts, so evaluation is bounded:

- files are read with a size bound, only regular files are opened (never a FIFO or a
  device), and a ``*.star`` file of a rule directory that resolves outside the rule
  directories (a symlink) is refused like such a ``load()``;
- a static pre-check (:func:`nesting_problem`) rejects sources nested deeper than the Rust
  parser and compiler can take (they recurse on the C stack), located at the culprit;
- evaluation runs with a step budget and a deadline (``EvalOptions.check_cancelled``) and a
  call-stack cap, so endless loops become located errors;
- when the workspace has rule directories (the built-in rules alone are trusted) and the
  process is single-threaded, the whole evaluation runs in a forked child with
  ``RLIMIT_AS``/``RLIMIT_CPU`` limits and a wall-clock timeout; the child reports which file
  it is evaluating, so a memory bomb, a panic or a crash of the engine becomes a
  ``RULE_ERROR`` of that file instead of killing the build. The result comes back pickled
  (rules, file list, diagnostics: plain data).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import pickle
import re
import select
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import starlark as sl
from pydantic import ValidationError

from sodabuild.diagnostics import Diagnostic, SodabuildError
from sodabuild.emit.registry import KINDS, constructor
from sodabuild.rules.model import Discovery, Output, PruningFilter, Rule

BUILTIN_PREFIX = "@builtin//"
BUILTIN_DISPLAY = "<builtin>"
_LOCATION = re.compile(r"-->\s*(.+?):(\d+):(\d+)")
_INVALID_MARK = "RULE_INVALID: "
_KIND = "__sodabuild_kind__"

#: A rule file larger than this is refused (rule files are small programs).
MAX_RULE_BYTES = 1 << 20
#: Budget of ``check_cancelled`` calls (each is ~1000 Starlark instructions) for all files.
MAX_STEPS = 20_000
#: Wall-clock budget of the in-engine deadline, and of the forked child (backstop).
MAX_SECONDS = 10.0
CHILD_TIMEOUT = 30.0
#: Address space a forked evaluation may add to what the process already maps.
MAX_EXTRA_MEMORY = 1 << 30
#: Static nesting limit: brackets, indentation and operator chains of one statement.
MAX_NESTING = 400
MAX_CALLSTACK = 200


class RuleLimitError(ValueError):
    """A rule file refused before or during evaluation; the text carries its location in
    starlark's own format, so it is located the same way when it crosses a ``load()``."""

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        super().__init__(f"error: {message}\n --> {file}:{line}:{column}")


class _Budget:
    """``check_cancelled`` callback shared by every file of one evaluation: a step budget
    (one call is roughly 1000 Starlark instructions) and a wall-clock deadline."""

    def __init__(self, steps: int = MAX_STEPS, seconds: float = MAX_SECONDS) -> None:
        self.left = steps
        self.steps = steps
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.reason = ""

    def exhausted(self) -> bool:
        self.left -= 1
        if self.left < 0:
            self.reason = f"rule evaluation exceeded its step limit (~{self.steps * 1000:,} steps)"
            return True
        if self.left % 64 == 0 and time.monotonic() > self.deadline:
            self.reason = f"rule evaluation exceeded its time limit ({self.seconds:g}s)"
            return True
        return False


def read_rule_file(path: Path, display: str | None = None) -> str:
    """The text of a rule file: a regular file only (a FIFO or a device is refused without
    blocking), at most :data:`MAX_RULE_BYTES`, valid UTF-8 (errors located)."""
    shown = display if display is not None else path.as_posix()
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise RuleLimitError(shown, 1, 1, "rule file is not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RuleLimitError(shown, 1, 1, "rule file is not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_RULE_BYTES:
            chunk = os.read(fd, MAX_RULE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_RULE_BYTES:
        raise RuleLimitError(shown, 1, 1, f"rule file is larger than {MAX_RULE_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        raise RuleLimitError(shown, line, column, "rule file is not valid UTF-8") from None


_OPEN = "([{"
_CLOSE = ")]}"
_OPERATOR_CHARS = frozenset("+-*/%&|^<>=!~.@")
_OPERATOR_WORDS = frozenset({"and", "or", "not", "if", "else", "lambda", "in", "is", "for"})
_TRIPLE = ("'''", '"""')


def nesting_problem(source: str, limit: int = MAX_NESTING) -> tuple[int, int, str] | None:
    """``(line, column, message)`` where ``source`` nests deeper than ``limit``, else None.

    The Rust parser, compiler and evaluator recurse on the C stack (a few thousand levels
    crash the process), so depth is bounded before parsing. The estimate is conservative:
    per statement, open brackets plus, at each bracket level, the operators since that
    level's last ``,``/``:`` (an operator chain is a left-deep tree), plus indentation.
    """
    line = 1
    line_start = 0
    levels: list[int] = [0]  # operators since the last separator, per open bracket level
    indents: list[int] = [0]
    total = 0  # sum(levels) + len(levels) - 1, maintained incrementally
    lambdas = 0
    at_line_start = True
    i = 0
    n = len(source)
    too_deep = "rule file is nested too deeply"
    while i < n:
        c = source[i]
        if at_line_start:
            at_line_start = False
            width = 0
            j = i
            while j < n and source[j] in " \t\f":
                width += 8 - width % 8 if source[j] == "\t" else 1
                j += 1
            if j < n and source[j] not in "#\r\n":
                while width < indents[-1]:
                    indents.pop()
                if width > indents[-1]:
                    indents.append(width)
                if len(indents) > limit // 4:
                    return (line, j - line_start + 1, too_deep + " (indentation)")
            i = j
            continue
        if c == "\n":
            line += 1
            line_start = i + 1
            if len(levels) == 1:
                levels[0] = 0
                total = lambdas = 0
                at_line_start = True
            i += 1
            continue
        if c == "#":
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "'\"":
            quote = source[i : i + 3] if source[i : i + 3] in _TRIPLE else c
            j = i + len(quote)
            while j < n:
                if source[j] == "\\":
                    j += 2
                    continue
                if source.startswith(quote, j):
                    j += len(quote)
                    break
                if source[j] == "\n":
                    if len(quote) == 1:
                        break
                    line += 1
                    line_start = j + 1
                j += 1
            i = j
            continue
        bump = False
        if c in _OPEN:
            levels[-1] += 1
            levels.append(0)
            total += 2
            bump = True
        elif c in _CLOSE:
            if len(levels) > 1:
                total -= levels.pop() + 1
        elif c in ",:;":
            total -= levels[-1]
            levels[-1] = 0
        elif c in _OPERATOR_CHARS:
            levels[-1] += 1
            total += 1
            bump = True
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (source[j].isalnum() or source[j] == "_"):
                j += 1
            word = source[i:j]
            if word in _OPERATOR_WORDS:
                levels[-1] += 1
                total += 1
                if word == "lambda":  # its ``:`` is no separator: never reset
                    lambdas += 1
                if total + lambdas + len(indents) > limit:
                    return (line, i - line_start + 1, too_deep)
            i = j
            continue
        if bump and total + lambdas + len(indents) > limit:
            return (line, i - line_start + 1, too_deep)
        i += 1
    return None


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

    def unknown_hint(self, name: str) -> str:
        """The hint of a RULE_UNKNOWN for ``name``: the closest rule name, if one is close,
        and the known rules."""
        from sodabuild.render.suggestion import did_you_mean

        listed = f"known rules: {', '.join(sorted(self.rules)) or 'none'}"
        close = did_you_mean(name, self.rules)
        if close is None:
            return f"{listed} (see `sodabuild rules list`)"
        return f"{close} ({listed}; see `sodabuild rules list`)"


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
        self.budget = _Budget()
        #: Where the forked child reports the file it enters and leaves (None in-process).
        self.channel: int | None = None

    def report(self, event: str, display: str) -> None:
        if self.channel is not None:
            _send(self.channel, (event, display))

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

    def inside(self, path: Path) -> bool:
        return any(path.is_relative_to(d) for d in self.search_dirs)

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
            **{constructor(kind): output(kind) for kind in KINDS},
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
            self.report("enter", self.display(path))
            source = read_rule_file(path, self.display(path))
            problem = nesting_problem(source)
            if problem is not None:
                line, column, message = problem
                raise RuleLimitError(self.display(path), line, column, message)
            ast = sl.parse(self.display(path), source)
            module = sl.Module()
            for name, function in self.host_functions(path, source).items():
                module.add_callable(name, function)

            def load(target: str) -> Any:
                return self.evaluate(self.resolve_load(target, path))

            options = sl.EvalOptions(
                check_cancelled=self.budget.exhausted, max_callstack_size=MAX_CALLSTACK
            )
            sl.eval_with(options, module, ast, sl.Globals.standard(), sl.FileLoader(load))
            frozen = module.freeze()
        finally:
            self.in_progress.pop()
            self.report("leave", self.display(path))
        self.frozen[path] = frozen
        return frozen


def _declaration_line(source: str, name: str) -> int:
    match = re.search(r"""name\s*=\s*["']""" + re.escape(name) + r"""["']""", source)
    return source.count("\n", 0, match.start()) + 1 if match else 1


def _diagnostic_from(exc: BaseException, fallback_file: str, cancelled: str = "") -> Diagnostic:
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
        for prefix in (
            "StarlarkError: ",
            "error: ",
            "ValueError: ",
            "FileNotFoundError: ",
            "RuleLimitError: ",
        ):
            if summary.startswith(prefix):
                summary, stripped = summary[len(prefix) :], True
    if summary == "Evaluation cancelled" and cancelled:
        summary = cancelled
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
    hint = hints[code]
    if code == "RULE_ERROR":
        for marks, specific in _SPECIFIC_HINTS:
            if any(mark in summary for mark in marks):
                hint = specific
                break
    return Diagnostic(code, summary, file, line, column, hint)


_SPECIFIC_HINTS = (
    (
        ("not a regular file", "leaves the rule directories", "symlink loop"),
        "rule directories may only hold regular .star files inside the workspace",
    ),
    (("larger than",), "split the rule file; rule files are small programs"),
    (("not valid UTF-8",), "save the rule file as UTF-8"),
    (("nested too deeply",), "split the expression or flatten the nesting"),
    (
        ("step limit", "time limit"),
        "rule files must evaluate quickly: remove unbounded loops and recursion",
    ),
)


def load_rules(workspace_root: Path, rule_dirs: list[str]) -> RuleSet:
    """Evaluate every ``*.star`` file of the built-in and workspace rule directories.

    With workspace rule directories, in a single-threaded process, the evaluation runs in a
    forked child under memory, CPU and wall-clock limits (see the module docstring; ~5-15 ms
    of overhead); otherwise in-process, bounded by the static nesting check, the step budget
    and the deadline.
    """
    try:
        if rule_dirs and _can_fork():  # the built-in rules alone are trusted: no fork
            return _load_forked(workspace_root, rule_dirs)
        return _load_in_process(workspace_root, rule_dirs)
    except SodabuildError as exc:
        exc.root = exc.root or str(workspace_root)  # files are relative to it: frames
        raise


def _rule_files(evaluator: _Evaluator, workspace_root: Path) -> list[Path]:
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
    return files


def _load_in_process(
    workspace_root: Path, rule_dirs: list[str], channel: int | None = None
) -> RuleSet:
    evaluator = _Evaluator(workspace_root, [workspace_root / d for d in rule_dirs])
    evaluator.channel = channel
    files = _rule_files(evaluator, workspace_root)
    diagnostics: dict[tuple[str | None, int | None, int | None, str], Diagnostic] = {}
    for path in files:
        shown = evaluator.display(path)
        try:
            try:
                resolved = path.resolve()
            except RuntimeError:  # Python < 3.13: a symlink loop
                raise RuleLimitError(shown, 1, 1, "rule file is a symlink loop") from None
            if not evaluator.inside(resolved):
                raise RuleLimitError(
                    shown, 1, 1, "rule file is a link that leaves the rule directories"
                )
            evaluator.evaluate(resolved)
        except (sl.StarlarkError, OSError, ValueError, RuntimeError) as exc:
            # RuntimeError: a symlink loop (resolve); ValueError: RuleLimitError and
            # host-constructor errors that did not cross the engine.
            found = _diagnostic_from(exc, shown, evaluator.budget.reason)
            diagnostics.setdefault((found.file, found.line, found.column, found.message), found)
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":
                raise
            # The Rust engine panicked (e.g. a capacity overflow): the file is at fault.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "panic"
            found = Diagnostic(
                "RULE_ERROR",
                f"the Starlark engine failed evaluating this file ({first[:200]})",
                shown,
                1,
                1,
                "rule files must stay small: avoid huge values and deep nesting",
            )
            diagnostics.setdefault((found.file, found.line, found.column, found.message), found)
    if diagnostics:
        raise SodabuildError(list(diagnostics.values()))
    return RuleSet(
        rules=dict(sorted(evaluator.rules.items())),
        files=[evaluator.display(p) for p in files],
    )


# -- evaluation in a forked, resource-limited child ------------------------------------------


def _can_fork() -> bool:
    return (
        hasattr(os, "fork")
        and sys.platform != "darwin"
        and threading.active_count() == 1
        and os.environ.get("SODABUILD_RULES_IN_PROCESS", "") in ("", "0")
    )


def _send(fd: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _mapped_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _limit_child() -> None:
    import resource

    mapped = _mapped_bytes()
    if mapped is not None:
        limit = mapped + MAX_EXTRA_MEMORY
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    seconds = int(CHILD_TIMEOUT)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard == resource.RLIM_INFINITY or hard > seconds + 5:
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))


def _child(fd: int, workspace_root: Path, rule_dirs: list[str]) -> None:
    gc.disable()  # a collection would touch (copy) every page of the parent's heap
    try:
        # The engine's panic and abort messages are not for the user: the parent reports.
        if "faulthandler" in sys.modules:
            sys.modules["faulthandler"].disable()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        _limit_child()
        try:
            result = _load_in_process(workspace_root, rule_dirs, channel=fd)
        except SodabuildError as exc:
            _send(fd, ("error", exc.diagnostics))
        else:
            _send(fd, ("ok", result))
    except MemoryError:  # Python hit the address-space limit: the file being evaluated
        with contextlib.suppress(BaseException):
            _send(fd, ("memory", None))
    except BaseException:  # reported to the parent as an internal error
        with contextlib.suppress(BaseException):
            _send(fd, ("internal", traceback.format_exc()))
    finally:
        # EOF before the (slow) teardown of a big address space: the parent goes on.
        with contextlib.suppress(OSError):
            os.close(fd)
        os._exit(0)


_UNREAPED: list[int] = []


def _reap(pid: int | None = None) -> None:
    """Collect finished children without waiting; the rest at exit (a child that sent its
    result is only tearing down its address space)."""
    if pid is not None:
        _UNREAPED.append(pid)
        if len(_UNREAPED) == 1:
            atexit.register(_reap_all)
    for child in list(_UNREAPED):
        with contextlib.suppress(ChildProcessError):
            done, _status = os.waitpid(child, os.WNOHANG)
            if not done:
                continue
        _UNREAPED.remove(child)


def _reap_all() -> None:
    for child in list(_UNREAPED):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
    _UNREAPED.clear()


def _load_forked(workspace_root: Path, rule_dirs: list[str]) -> RuleSet:
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        _child(write_fd, workspace_root, rule_dirs)
    os.close(write_fd)
    buffer = bytearray()
    messages: list[Any] = []
    timed_out = False
    deadline = time.monotonic() + CHILD_TIMEOUT
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            while len(buffer) >= 8:
                size = int.from_bytes(buffer[:8], "little")
                if len(buffer) < 8 + size:
                    break
                messages.append(pickle.loads(bytes(buffer[8 : 8 + size])))
                del buffer[: 8 + size]
    finally:
        os.close(read_fd)
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        if timed_out or not any(m[0] in ("ok", "error") for m in messages):
            _, status = os.waitpid(pid, 0)
        else:
            status = 0
            _reap(pid)
    stack: list[str] = []
    for message in messages:
        kind, payload = message
        if kind == "enter":
            stack.append(payload)
        elif kind == "leave":
            if stack:
                stack.pop()
        elif kind == "ok":
            return payload  # type: ignore[no-any-return]
        elif kind == "error":
            raise SodabuildError(payload)
        elif kind == "internal":
            raise RuntimeError(f"rule evaluation failed in the child process:\n{payload}")
    culprit = stack[-1] if stack else None
    out_of_memory = f"rule evaluation exceeded its memory limit ({MAX_EXTRA_MEMORY >> 20} MiB)"
    if timed_out:
        message = f"rule evaluation did not finish within {CHILD_TIMEOUT:g}s"
    elif any(m[0] == "memory" for m in messages):
        message = out_of_memory
    elif os.WIFSIGNALED(status):
        import signal

        signal_number = os.WTERMSIG(status)
        name = str(signal_number)
        with contextlib.suppress(ValueError):
            name = signal.Signals(signal_number).name
        if signal_number == signal.SIGXCPU:
            message = f"rule evaluation exceeded its CPU time limit ({CHILD_TIMEOUT:g}s)"
        elif signal_number == signal.SIGKILL:
            message = "rule evaluation was killed (CPU time or memory limit)"
        elif signal_number == signal.SIGABRT:
            message = out_of_memory + " or the Starlark engine aborted"
        else:
            message = f"the Starlark engine crashed evaluating this file ({name})"
    else:
        message = "rule evaluation stopped without a result"
    raise SodabuildError(
        [
            Diagnostic(
                "RULE_ERROR",
                message,
                culprit if culprit is not None else "sodabuild.toml",
                1,
                1,
                "rule files must stay small and quick: avoid unbounded loops, huge values "
                "and deep nesting",
            )
        ]
    )
