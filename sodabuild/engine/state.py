"""Warm state: what one build leaves for the next (plain, picklable data).

Every entry is keyed by what it was computed from, so a stale entry can never be used:
scans by (path, content hash, gql modules), pre-filter answers by (path, content hash,
marker), compositions by a digest of the definition's source and its fragments' digests,
validation results by (document hash, schema hash). Invalidation is therefore implicit:
a change to a file, a config slice, a rule or a schema changes the keys of exactly the
results that read it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sodabuild.diagnostics import Diagnostic
from sodabuild.resolve import DefRef
from sodabuild.scan import ModuleScan
from sodabuild.session.fingerprint import DirStamp, Stamp

if TYPE_CHECKING:
    from sodabuild.emit.outputs import Assembler
    from sodabuild.engine.pipeline import _Build
    from sodabuild.write.commit import CommitMemo

#: Bump when the shape of anything cached changes.
STATE_VERSION = 6


@dataclass
class ComposedEntry:
    key: str
    composed: object  # sodabuild.compose.document.Composed without AST nodes
    warnings: tuple[Diagnostic, ...]
    #: For ``explain``: a digest of the gql() string, and each fragment argument's outcome.
    source: str = ""
    args: tuple[tuple[str, str], ...] = ()


@dataclass
class WarmState:
    version: int = STATE_VERSION
    recorded_ns: int = 0
    #: Every input file the build read (sources, walked imports, schemas), stamped.
    files: dict[str, Stamp] = field(default_factory=dict)
    #: Every directory discovery walked or resolution probed in.
    dirs: dict[str, DirStamp] = field(default_factory=dict)
    scans: dict[str, tuple[str, tuple[str, ...], ModuleScan]] = field(default_factory=dict)
    markers: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    composed: dict[DefRef, ComposedEntry] = field(default_factory=dict)
    validated: set[tuple[str, str]] = field(default_factory=set)
    #: Schema hashes that built a valid schema.
    validated_schemas: set[str] = field(default_factory=set)
    #: The SCHEMA_SPEC warnings of those schemas, replayed when one is not built again.
    schema_warnings: dict[str, tuple[Diagnostic, ...]] = field(default_factory=dict)
    #: Outputs as written, for the no-op check, and when they were stamped.
    outputs: dict[str, Stamp] = field(default_factory=dict)
    outputs_recorded_ns: int = 0
    #: Every directory of every out_dir as committed (a file no build wrote shows here).
    output_dirs: dict[str, DirStamp] = field(default_factory=dict)
    #: Why each definition ("path::name") and file was or was not rebuilt, for ``explain``.
    reasons: dict[str, str] = field(default_factory=dict)
    file_reasons: dict[str, str] = field(default_factory=dict)

    def merged_into(self, older: WarmState | None, written: Iterable[str] = ()) -> WarmState:
        """This build's entries over an older state's (a subset build keeps the rest).

        ``written``: the out_dirs this build wrote; their outputs are exactly this build's.
        """
        if older is None or older.version != self.version:
            return self
        prefixes = tuple(f"{out_dir}/" for out_dir in written)
        kept = {p: s for p, s in older.outputs.items() if not p.startswith(prefixes)}
        return WarmState(
            version=self.version,
            recorded_ns=self.recorded_ns,
            files={**older.files, **self.files},
            dirs={**older.dirs, **self.dirs},
            scans={**older.scans, **self.scans},
            markers={**older.markers, **self.markers},
            composed={**older.composed, **self.composed},
            validated=older.validated | self.validated,
            validated_schemas=older.validated_schemas | self.validated_schemas,
            schema_warnings={**older.schema_warnings, **self.schema_warnings},
            outputs={**kept, **self.outputs},
            outputs_recorded_ns=self.outputs_recorded_ns,
            output_dirs={
                **{p: s for p, s in older.output_dirs.items() if not f"{p}/".startswith(prefixes)},
                **self.output_dirs,
            },
            reasons={**older.reasons, **self.reasons},
            file_reasons={**older.file_reasons, **self.file_reasons},
        )


@dataclass
class CacheCounts:
    """hits: a cached result was reused; misses: it had to be computed; skips: a file's
    stat proved it unchanged, so it was not even read."""

    hits: int = 0
    misses: int = 0
    skips: int = 0

    def hit(self, n: int = 1) -> None:
        self.hits += n

    def miss(self, n: int = 1) -> None:
        self.misses += n


@dataclass
class SessionMemory:
    """What a live session keeps in memory between builds (never persisted): built GraphQL
    schemas by schema hash, each project's output assembler, and the last clean build's
    graph, from which the next change set is applied (engine/update.py)."""

    schemas: dict[str, Any] = field(default_factory=dict)
    assemblers: dict[tuple[str, str], Assembler] = field(default_factory=dict)
    graph: _Build | None = None
    #: What each out_dir's last commit left (by out_dir), so the next need not walk it.
    commits: dict[str, CommitMemo] = field(default_factory=dict)


def digest(parts: list[Hashable]) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"))
