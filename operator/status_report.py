"""The statuses a standalone gateway would write, made observable without a cluster.

`igw run --manifests DIR --status-dir OUT` writes one YAML file per object into OUT on every
reload; `igw status --manifests DIR` prints them once. Both come from the same pure
`desired_statuses` the in-cluster operator patches onto the objects; the local Envoy stands in
for the provisioned proxy (Programmed, address = the listen address).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml

from .api import CONTROLLER_NAME
from .translate import Translation, translate
from .translate.objects import ObjectSet
from .translate.stamping import ProxyState, stamp_statuses
from .translate.status import ObjectKey, Status


def standalone_statuses(objects: ObjectSet | Translation, listen_address: str,
                        current: Mapping[ObjectKey, Status] | None = None,
                        now: datetime | None = None) -> dict[ObjectKey, Status]:
    """Translation's statuses, stamped as the operator would write them; the local Envoy is
    every Gateway's proxy, ready at `listen_address`."""
    translation = objects if isinstance(objects, Translation) else translate(objects)
    proxies = {f"{g.metadata.namespace}/{g.metadata.name}": ProxyState(
        provisioned=True, ready_replicas=1, addresses=(("IPAddress", listen_address),)) for g in translation.gateways}
    return stamp_statuses(translation.statuses, translation.gateways, current or {}, proxies,
                          now or datetime.now(timezone.utc), CONTROLLER_NAME)


def status_documents(statuses: Mapping[ObjectKey, Status]) -> list[dict[str, Any]]:
    """One document per object: kind (v1 pools as `InferencePool.inference.networking.k8s.io`),
    namespace, name and the status."""
    return [{"kind": kind, "metadata": {"namespace": ns, "name": name} if ns else {"name": name}, "status": status}
            for (kind, ns, name), status in sorted(statuses.items())]


def write_status_dir(directory: Path, statuses: Mapping[ObjectKey, Status]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for doc in status_documents(statuses):
        meta = doc["metadata"]
        name = "_".join(x for x in (doc["kind"], meta.get("namespace", ""), meta["name"]) if x) + ".yaml"
        wanted.add(name)
        path = directory / name
        text = yaml.safe_dump(doc, sort_keys=False)
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
    for stale in directory.glob("*.yaml"):
        if stale.name not in wanted:
            stale.unlink()
