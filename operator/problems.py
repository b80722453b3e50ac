"""`Problem`: one reason an object is refused or cannot be used, shared by loading (pydantic),
`igw validate` (CRD schemas) and translation (references, annotation values), so all speak to
the user the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True, slots=True)
class Problem:
    """`field` is a path like `spec.targetModels[0].weight`; `source` the file, if any."""

    source: str
    kind: str
    name: str
    field: str
    message: str
    namespace: str = ""

    @property
    def object(self) -> str:
        return "/".join(x for x in (self.kind or "?", self.namespace, self.name or "?") if x)

    def __str__(self) -> str:
        parts = [self.source] if self.source else []
        if self.kind or self.name:
            parts.append(self.object)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class ProblemLog:
    """Logs each problem once, when it appears (and once more when it is gone), however many
    translations see it: a provider translates on every change and must not repeat itself."""

    def __init__(self, logger: Any, event: str = "object not used as written") -> None:
        self.log, self.event = logger, event
        self._seen: set[Problem] = set()

    def report(self, problems: Iterable[Problem]) -> list[Problem]:
        """Log the problems not seen before; returns them."""
        now = set(problems)
        new = sorted(now - self._seen, key=str)
        for p in new:
            self.log.warning(self.event, object=p.object, field=p.field, reason=p.message,
                             **({"source": p.source} if p.source else {}))
        for p in sorted(self._seen - now, key=str):
            self.log.info("problem resolved", object=p.object, field=p.field)
        self._seen = now
        return new
