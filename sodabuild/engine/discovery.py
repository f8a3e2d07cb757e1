"""Discover and scan: the files each of a project's rules selects, the definitions the
scanners find in them (pre-filtered by bytes where the scanner allows), and their imports
linked into the module graph; also which rules a project uses, checked together.

Inputs: the workspace, its rules, the file store (bytes and scans, each computed once),
the module resolvers, and the build's reporting and progress. Outputs: the discovered
files and definitions per plan, the walked directories' stamps (``dir_stamps``, for the
no-op check) and the module graph's edges.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sodabuild.config.locate import config_location
from sodabuild.config.model import ResolvedProject, ResolvedWorkspace
from sodabuild.diagnostics import Diagnostic, SodabuildError
from sodabuild.discover import Matcher, discover_files
from sodabuild.engine.sources import SourceStore
from sodabuild.graph import ModuleGraph
from sodabuild.render.progress import Progress
from sodabuild.resolve import DefRef, ModuleResolver
from sodabuild.rules.load import RuleSet
from sodabuild.rules.model import Rule
from sodabuild.scan.registry import SCANNERS
from sodabuild.session.fingerprint import DirStamp

#: Definitions (or files) between two progress updates.
PROGRESS_STRIDE = 256


class DiscoveryStage:
    """Files and definitions of the selected projects' rules."""

    def __init__(
        self,
        *,
        workspace: ResolvedWorkspace,
        rules: RuleSet,
        store: SourceStore,
        module_graph: ModuleGraph,
        resolver_for: Callable[[str], ModuleResolver],
        scanner_for: Callable[[str], str],
        scan_diagnostics: Callable[[str], None],
        report: Callable[[Diagnostic], None],
        progress: Callable[[], Progress],
        current: Callable[[], str],
    ) -> None:
        self.workspace = workspace
        self.root = Path(workspace.root)
        self.rules = rules
        self.store = store
        self.module_graph = module_graph
        self.resolver_for = resolver_for
        self.scanner_for = scanner_for
        self.scan_diagnostics = scan_diagnostics
        self.report = report
        self.progress = progress
        self.current = current
        #: Stamps of the directories discovery walked (the no-op check compares them).
        self.dir_stamps: dict[str, DirStamp] = {}

    def rule_objects(self, project: ResolvedProject) -> list[Rule]:
        found = []
        for name in project.rules:
            rule = self.rules.get(name)
            if rule is None:
                file, line, column = config_location(self.workspace, project, "rules")
                raise SodabuildError(
                    [
                        Diagnostic(
                            "RULE_UNKNOWN",
                            f"project '{project.name}' selects unknown rule '{name}'",
                            file,
                            line,
                            column,
                            hint=self.rules.unknown_hint(name),
                        )
                    ],
                    root=str(self.root),
                )
            found.append(rule)
        from sodabuild.emit.registry import output_key
        from sodabuild.rules.model import outputs_problem

        kinds = [output_key(o) for rule in found for o in rule.outputs]
        problem = (
            "declare the same output twice (one output per kind and format)"
            if len(kinds) != len(set(kinds))
            # the rules share the project's out_dir: their paths may not collide either
            else outputs_problem([o for rule in found for o in rule.outputs])
        )
        if problem is not None:
            file, line, column = config_location(self.workspace, project, "rules")
            raise SodabuildError(
                [
                    Diagnostic(
                        "RULE_INVALID",
                        f"rules {', '.join(project.rules)} of '{project.name}': {problem}",
                        file,
                        line,
                        column,
                        hint="give each output of the project's rules its own path",
                    )
                ],
                root=str(self.root),
            )
        return found

    def discover(self, project: ResolvedProject, rule: Rule) -> list[str]:
        include = project.include if project.include is not None else rule.discovery.include
        matcher = Matcher(tuple(include), (*rule.discovery.exclude, *project.exclude))
        suffixes = [
            s for s, scanner in project.extensions.items() if scanner in rule.discovery.scanners
        ]
        skipped: list[Diagnostic] = []
        files = discover_files(
            self.workspace.root,
            project.root,
            matcher,
            suffixes,
            skip_dirs=(project.out_dir, self.workspace.cache_dir),
            dir_stamps=self.dir_stamps,
            skipped_inputs=skipped,
        )
        for diagnostic in skipped:  # special files and symlinks leaving the workspace
            self.report(diagnostic)
        schemas = {path for p in self.workspace.projects for path in p.schema_paths}
        files = [path for path in files if path not in schemas]
        self.store.add_known(files)
        return files

    def entries(self, files: list[str], rule: Rule) -> dict[str, list[DefRef]]:
        """The definitions of the files that pass the rule's pre-filter, by file."""
        by_file: dict[str, list[DefRef]] = {}
        total = len(files)
        for done, path in enumerate(files, 1):
            refs = self.file_entries(path, rule)
            if refs is not None:
                by_file[path] = refs
            if not done % PROGRESS_STRIDE:
                self.progress().update(f"scan {self.current()}", done, total, "files")
        return by_file

    def file_entries(self, path: str, rule: Rule) -> list[DefRef] | None:
        scanner = SCANNERS[self.scanner_for(path)]
        if scanner.prefiltered:
            markers = tuple(dict.fromkeys((rule.discovery.prefilter.encode(), *scanner.markers)))
            if not self.store.has_marker(path, markers):
                return None
        self.scan_diagnostics(path)
        scan = self.store.scan(path)
        if scan is None:
            return None
        return [DefRef(path, d.name) for d in scan.definitions]

    def link_modules(self, files: list[str]) -> None:
        for path in files:
            scan = self.store.scanned().get(path)
            if scan is None:
                continue
            resolver = self.resolver_for(path)
            for binding in scan.imports:
                target = resolver.binding(path, binding)
                if target is not None:
                    self.module_graph.add(path, target)
