"""The Pod fields the gateway reads: labels, IP and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import KubeModel, KubeObject


class PodCondition(KubeModel):
    type: str
    status: str


class PodStatus(KubeModel):
    pod_ip: str | None = Field(default=None, alias="podIP")
    phase: str | None = None
    conditions: list[PodCondition] = Field(default_factory=list)


class Pod(KubeObject):
    kind: Literal["Pod"]
    status: PodStatus = Field(default_factory=PodStatus)

    @property
    def ready(self) -> bool:
        """Ready condition True and an IP assigned: the only pods worth routing to."""
        if not self.status.pod_ip:
            return False
        return any(c.type == "Ready" and c.status == "True" for c in self.status.conditions)
