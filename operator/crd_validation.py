"""Offline validation of manifests against the CRDs in ``crds/``, as the API server would.

The CRD YAML files are the single source of truth: they are read at run time, and each
object of a kind they define is checked against its version's ``openAPIV3Schema`` by the
`jsonschema` library (draft 4, whose boolean exclusiveMinimum/Maximum OpenAPI v3 shares).
The few Kubernetes meanings JSON Schema lacks are added to the schema first
(`as_json_schema`): fields a structural schema does not declare are unknown (as a strict
``kubectl apply`` says) unless ``x-kubernetes-preserve-unknown-fields``; ``nullable``; null
fields are pruned. Then the rules a schema cannot say: ObjectMeta (not in the CRD schema) and
the CEL rules (``x-kubernetes-validations``), which our pydantic API models implement, so a
schema-clean object is also parsed by its model.

Objects of kinds without a CRD here (Gateway, HTTPRoute, Pod, ...) are skipped. Used by
``igw validate FILE...`` (cli/validate.py).
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .manifests import expand_list, parse_document, raw_documents
from .problems import Problem

__all__ = [
    "Problem",
    "CustomResource",
    "crds_dir",
    "load_crds",
    "validate_documents",
    "validate_files",
    "check_value",
]

CRDS_DIR_ENV = "IGW_CRDS_DIR"

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class CustomResource:
    """One served version of a CRD: what an object's apiVersion/kind resolve to."""

    crd_name: str
    group: str
    version: str
    kind: str
    schema: dict[str, Any]


def crds_dir() -> Path:
    """``$IGW_CRDS_DIR``, else ``crds/`` at the repository root (this file is ``operator/…``)."""
    override = os.environ.get(CRDS_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[1] / "crds"


def load_crds(directory: Path | None = None) -> dict[tuple[str, str], CustomResource]:
    """Map ``(apiVersion, kind)`` to the served CRD version, for every CRD in ``directory``."""
    return dict(_load_crds(str((directory or crds_dir()).resolve())))


@lru_cache(maxsize=8)
def _load_crds(directory: str) -> tuple[tuple[tuple[str, str], CustomResource], ...]:
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"CRD directory {root} not found (set {CRDS_DIR_ENV})")
    found: list[tuple[tuple[str, str], CustomResource]] = []
    for path in sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                resource = CustomResource(
                    crd_name=doc["metadata"]["name"],
                    group=spec["group"],
                    version=version["name"],
                    kind=spec["names"]["kind"],
                    schema=version["schema"]["openAPIV3Schema"],
                )
                found.append(((f"{resource.group}/{resource.version}", resource.kind), resource))
    return tuple(found)


# --------------------------------------------------------------------------- schema


def as_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes structural schema node as JSON Schema (draft 4), recursively."""
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k not in ("nullable", "description")}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node:
        out["properties"] = {k: as_json_schema(v) for k, v in node["properties"].items()}
        if "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = as_json_schema(node["additionalProperties"])
    if isinstance(node.get("items"), dict):
        out["items"] = as_json_schema(node["items"])
    return out


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _date_time_ok(value: object) -> bool:
    if not isinstance(value, str):
        return True
    # RFC 3339 needs a date, a time and an offset; fromisoformat alone is more lenient.
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", value):
        return False
    try:
        datetime.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> jsonschema.Draft4Validator:
    import json  # noqa: PLC0415

    return jsonschema.Draft4Validator(as_json_schema(json.loads(schema_json)), format_checker=_FORMATS)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _path(parts: Iterable[Any], start: str = "") -> str:
    path = start
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path


def _pruned(value: Any) -> Any:
    """Null fields dropped, as the API server prunes them (`required` then catches them)."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _messages(error: jsonschema.ValidationError, at: str) -> Iterator[tuple[str, str]]:
    """One jsonschema error as (field, message) in the words `kubectl` users know."""
    kind, rule, value = error.validator, error.validator_value, error.instance
    if kind == "required":
        for name in rule:
            if not isinstance(value, dict) or name not in value:
                yield _join(at, name), "required field is missing"
    elif kind == "additionalProperties":
        declared = error.schema.get("properties", {})
        for key in value:
            if key not in declared:
                yield _join(at, str(key)), "unknown field"
    elif kind == "type":
        expected = rule if isinstance(rule, str) else rule[0]
        yield at, f"must be of type {expected}, got {_type_name(value)} {value!r}"
    elif kind == "enum":
        yield at, f"unsupported value {value!r}: must be one of {', '.join(repr(v) for v in rule)}"
    elif kind in ("minimum", "maximum"):
        exclusive = error.schema.get("exclusiveMinimum" if kind == "minimum" else "exclusiveMaximum") is True
        sign = {("minimum", False): ">=", ("minimum", True): ">", ("maximum", False): "<=", ("maximum", True): "<"}
        yield at, f"must be {sign[(kind, exclusive)]} {rule}, got {value}"
    elif kind == "minLength":
        yield at, f"must be at least {rule} characters long"
    elif kind == "maxLength":
        yield at, f"must be at most {rule} characters long, got {len(value)}"
    elif kind in ("minItems", "maxItems"):
        yield at, f"must have {'at least' if kind == 'minItems' else 'at most'} {rule} items, got {len(value)}"
    elif kind in ("minProperties", "maxProperties"):
        yield at, f"must have {'at least' if kind == 'minProperties' else 'at most'} {rule} entries, got {len(value)}"
    elif kind == "pattern":
        yield at, f"{value!r} does not match pattern {rule}"
    elif kind == "format":
        yield at, f"{value!r} is not an RFC 3339 {rule}"
    else:
        yield at, error.message


def check_value(value: Any, schema: dict[str, Any], path: str = "") -> list[tuple[str, str]]:
    """Every (field, message) by which `value` breaks a Kubernetes structural `schema`."""
    import json  # noqa: PLC0415

    found: list[tuple[str, str]] = []
    typed: set[str] = set()
    errors = sorted(_validator(json.dumps(schema, sort_keys=True)).iter_errors(_pruned(value)),
                    key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    for error in errors:
        at = _path(error.absolute_path, path)
        if any(at == t or at.startswith((t + ".", t + "[")) for t in typed):
            continue  # a value of the wrong type: its other complaints are noise
        if error.validator == "type":
            typed.add(at)
        found.extend(_messages(error, at))
    return found


def _check_metadata(metadata: Any) -> Iterator[tuple[str, str]]:
    if metadata is None:
        yield "metadata", "required field is missing"
        return
    if not isinstance(metadata, dict):
        yield "metadata", f"must be of type object, got {_type_name(metadata)}"
        return
    name = metadata.get("name")
    if name is None and not metadata.get("generateName"):
        yield "metadata.name", "required field is missing"
    elif name is not None and (not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name)):
        yield "metadata.name", f"{name!r} is not a valid name (lowercase DNS subdomain, at most 253 characters)"
    for field in ("labels", "annotations"):
        entries = metadata.get(field)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            yield f"metadata.{field}", f"must be a map of strings, got {_type_name(entries)}"
            continue
        for key, item in entries.items():
            if not isinstance(item, str):
                yield _join(f"metadata.{field}", str(key)), f"must be a string, got {_type_name(item)} {item!r}"


def _rules(source: str, doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The CEL rules, through the pydantic model that implements them."""
    _, problems = parse_document(doc, source)
    return [(p.field, p.message.removeprefix("Value error, ")) for p in problems]


# --------------------------------------------------------------------------- public API


def validate_documents(
    docs: Iterable[tuple[str, Any]], crds: dict[tuple[str, str], CustomResource] | None = None
) -> list[Problem]:
    """Validate parsed documents, each given with its source (e.g. ``path#2``)."""
    registry = load_crds() if crds is None else crds
    groups = {resource.group: resource for resource in registry.values()}
    problems: list[Problem] = []
    for outer_source, outer in docs:
        for source, doc in expand_list(outer_source, outer):
            if doc is None:
                continue  # an empty document (e.g. a trailing `---`)
            if not isinstance(doc, dict):
                problems.append(Problem(source, "", "", "", f"not a Kubernetes object: a {_type_name(doc)}"))
                continue
            kind = doc.get("kind") if isinstance(doc.get("kind"), str) else ""
            meta = doc.get("metadata")
            name = (meta.get("name") or meta.get("generateName") or "") if isinstance(meta, dict) else ""
            name = name if isinstance(name, str) else str(name)
            api_version = doc.get("apiVersion")
            if not isinstance(api_version, str) or not kind:
                missing = "apiVersion" if not isinstance(api_version, str) else "kind"
                problems.append(Problem(source, kind, name, missing, "required field is missing"))
                continue
            resource = registry.get((api_version, kind))
            if resource is None:
                group = api_version.rpartition("/")[0]
                if group in groups:
                    known = sorted(f"{v}/{k}" for v, k in registry if v.startswith(group + "/"))
                    problems.append(
                        Problem(source, kind, name, "apiVersion", f"{api_version} {kind} is not served here; known: {', '.join(known)}")
                    )
                continue  # a kind with no CRD here (Gateway, HTTPRoute, Pod, ...)
            # The root schema declares metadata as a bare object: ObjectMeta is checked apart.
            found = list(_check_metadata(meta))
            found.extend(check_value(doc, resource.schema))
            if not found:
                found = _rules(source, doc)
            problems.extend(Problem(source, kind, name, field, message) for field, message in found)
    return problems


def validate_files(paths: list[Path], crds: dict[tuple[str, str], CustomResource] | None = None) -> list[Problem]:
    """Validate every document of every (multi-document) YAML file; sources read ``path#N`` (N from 1)."""
    registry = load_crds() if crds is None else crds
    problems: list[Problem] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), "", "", "", f"cannot read: {exc}"))
            continue
        docs, syntax = raw_documents(text, str(path))
        problems.extend(validate_documents(docs, registry))
        problems.extend(syntax)
    return problems
