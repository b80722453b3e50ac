"""Which objects of a manifest set the gateway will not act on, and why: `igw validate` warns
about each rather than calling a file OK when part of it is silently ignored.

Ignored: kinds the gateway does not read (Deployments, Namespaces, RBAC, ... a cluster's own
controllers act on those), Gateways of another class, and Services no pool names as its
endpoint picker (only pickers are looked up as Services).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from .api import model_for, pool_view
from .manifests import load_documents
from .translate.attachment import our_gateways
from .translate.objects import ObjectSet


def _raw_docs(text: str) -> list[tuple[int, Any]]:
    try:
        return [(i, d) for i, d in enumerate(yaml.safe_load_all(text), start=1) if d is not None]
    except yaml.YAMLError:
        return []  # reported as a syntax error by the validator


def ignored_objects(paths: Iterable[Path], context: ObjectSet | None = None) -> list[tuple[str, str]]:
    """(where, why) for each object of `paths` that the gateway would not act on. `context`:
    the objects of the whole set, so a Service used by a pool in another file counts as used."""
    paths = list(paths)
    if context is None:
        objects: list = []
        for path in paths:
            objects.extend(load_documents(path.read_text(encoding="utf-8"), str(path))[0])
        context = ObjectSet.of(objects)
    ours = {g.key for g in our_gateways(context)}
    pickers = {(v.namespace, v.picker.name) for v in map(pool_view, context.pools) if v.picker}
    out: list[tuple[str, str]] = []
    for path in paths:
        for index, doc in _raw_docs(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict):
                continue
            kind, api = str(doc.get("kind", "")), str(doc.get("apiVersion", ""))
            meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            name, ns = str(meta.get("name", "")), str(meta.get("namespace") or "default")
            where = f"{path}#{index}: {kind}/{name}"
            if kind.endswith("List") or model_for(doc) is None:
                if not kind.endswith("List"):
                    out.append((where, f"ignored: the gateway does not read {api} {kind}"))
            elif kind == "Gateway" and (ns, name) not in ours:
                out.append((where, "ignored: its GatewayClass does not name this gateway's controller "
                                   "(inference.networking.x-k8s.io/gateway-controller)"))
            elif kind == "Service" and (ns, name) not in pickers:
                out.append((where, "ignored: no InferencePool names this Service as its endpoint picker"))
    return out
