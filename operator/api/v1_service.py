"""The core/v1 Service fields the gateway reads: which pods back an endpoint picker's Service.

Only endpoint pickers are looked up as Services (a pool's `endpointPickerRef`); model-server
traffic goes to pods directly. Locally (manifests) the Service's selector finds the picker's
pods among the Pod manifests, as kube-proxy would.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import KubeModel, KubeObject


class ServicePort(KubeModel):
    name: str | None = None
    port: int = Field(ge=1, le=65535)
    target_port: int | str | None = None
    app_protocol: str | None = None


class ServiceSpec(KubeModel):
    selector: dict[str, str] = Field(default_factory=dict)
    ports: list[ServicePort] = Field(default_factory=list)
    type: str = "ClusterIP"
    cluster_ip: str | None = Field(default=None, alias="clusterIP")


class Service(KubeObject):
    kind: Literal["Service"]
    spec: ServiceSpec = Field(default_factory=ServiceSpec)

    def target_port(self, port: int) -> int | None:
        """The pods' port behind service port `port` (a named targetPort is not resolved)."""
        for p in self.spec.ports:
            if p.port == port:
                if isinstance(p.target_port, int):
                    return p.target_port
                if p.target_port is None or (isinstance(p.target_port, str) and p.target_port.isdigit()):
                    return int(p.target_port or p.port)
                return None
        return None
