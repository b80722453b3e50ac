"""`Problem`: one reason a manifest is refused, shared by loading (pydantic) and `igw validate`
(CRD schemas), so both speak to the user the same way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """`field` is a path like `spec.targetModels[0].weight`."""

    source: str
    kind: str
    name: str
    field: str
    message: str

    def __str__(self) -> str:
        parts = [self.source]
        if self.kind or self.name:
            parts.append(f"{self.kind or '?'}/{self.name or '?'}")
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)
