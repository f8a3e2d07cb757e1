"""The dependency graph of a build: module-level and definition-level adjacency.

Keys are workspace-level: a module is its workspace-relative POSIX path, a definition its
``DefRef`` (module path + binding name), which renders as the canonical id of whichever
project looks at it. Both graphs keep forward and reverse edges, so a later change can be
propagated to exactly the definitions that depend on it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sodabuild.resolve import DefRef


@dataclass
class ModuleGraph:
    """``imports[a]`` = modules ``a`` imports (resolved inside the workspace)."""

    imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    importers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, module: str, imported: str) -> None:
        self.imports[module].add(imported)
        self.importers[imported].add(module)

    def edge_count(self) -> int:
        return sum(len(targets) for targets in self.imports.values())


@dataclass
class DefinitionGraph:
    """``fragments[d]`` = the definitions passed to ``d``'s gql() call."""

    fragments: dict[DefRef, tuple[DefRef, ...]] = field(default_factory=dict)
    users: dict[DefRef, set[DefRef]] = field(default_factory=lambda: defaultdict(set))

    def link(self, definition: DefRef, fragments: tuple[DefRef, ...]) -> None:
        self.fragments[definition] = fragments
        for fragment in fragments:
            self.users[fragment].add(definition)

    def unlink(self, definition: DefRef) -> None:
        """Forget ``definition``'s fragment edges (before it is linked again)."""
        for fragment in self.fragments.pop(definition, ()):
            users = self.users.get(fragment)
            if users is not None:
                users.discard(definition)

    def dependents(self, definition: DefRef) -> set[DefRef]:
        """Every definition whose composed document includes ``definition``."""
        seen: set[DefRef] = set()
        stack = [definition]
        while stack:
            for user in self.users.get(stack.pop(), ()):
                if user not in seen:
                    seen.add(user)
                    stack.append(user)
        return seen

    def edge_count(self) -> int:
        return sum(len(targets) for targets in self.fragments.values())
