"""Offline validation of manifests against the CRDs in ``crds/``.

The CRD YAML files are the single source of truth: they are read at run time, and each
object of a kind they define is checked against its version's ``openAPIV3Schema`` with the
structural-schema subset Kubernetes itself applies (type, properties, required, enum,
minimum/maximum, min/maxLength, min/maxItems, min/maxProperties, pattern, items,
additionalProperties, nullable, x-kubernetes-preserve-unknown-fields, format date-time).
Fields a structural schema does not declare are reported as unknown, as a strict
``kubectl apply`` would. CEL rules (``x-kubernetes-validations``) are *not* evaluated here:
they need an API server.

Objects of kinds without a CRD here (Gateway, HTTPRoute, Pod, ...) are skipped. Used by
``igw validate FILE...``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .problems import Problem

__all__ = [
    "Problem",
    "CustomResource",
    "crds_dir",
    "load_crds",
    "validate_documents",
    "validate_files",
    "add_arguments",
    "run",
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


# --------------------------------------------------------------------------- schema walk


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )


def _date_time_ok(value: str) -> bool:
    # RFC 3339 needs a date, a time and an offset; fromisoformat alone is more lenient.
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", value):
        return False
    try:
        datetime.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _check(value: Any, schema: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    """Yield ``(field, message)`` for every way ``value`` breaks ``schema``."""
    if value is None:
        # Allowed when nullable; otherwise Kubernetes prunes it, and `required` catches it.
        return
    expected = schema.get("type")
    if expected and not _type_ok(value, expected):
        yield path, f"must be of type {expected}, got {_type_name(value)} {value!r}"
        return

    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        yield path, f"unsupported value {value!r}: must be one of {allowed}"

    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield path, f"must be at least {schema['minLength']} characters long"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield path, f"must be at most {schema['maxLength']} characters long, got {len(value)}"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield path, f"{value!r} does not match pattern {schema['pattern']}"
        if schema.get("format") == "date-time" and not _date_time_ok(value):
            yield path, f"{value!r} is not an RFC 3339 date-time"

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            low = schema["minimum"]
            if value < low or (schema.get("exclusiveMinimum") is True and value == low):
                yield path, f"must be {'>' if schema.get('exclusiveMinimum') is True else '>='} {low}, got {value}"
        if "maximum" in schema:
            high = schema["maximum"]
            if value > high or (schema.get("exclusiveMaximum") is True and value == high):
                yield path, f"must be {'<' if schema.get('exclusiveMaximum') is True else '<='} {high}, got {value}"

    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield path, f"must have at least {schema['minItems']} items, got {len(value)}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield path, f"must have at most {schema['maxItems']} items, got {len(value)}"
        item_schema = schema.get("items")
        if isinstance(item_schema, dict):
            for index, item in enumerate(value):
                yield from _check(item, item_schema, f"{path}[{index}]")

    if isinstance(value, dict):
        yield from _check_object(value, schema, path)


def _check_object(value: dict[Any, Any], schema: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        yield path, f"must have at least {schema['minProperties']} entries, got {len(value)}"
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        yield path, f"must have at most {schema['maxProperties']} entries, got {len(value)}"
    for required in schema.get("required", ()):
        if value.get(required) is None:
            yield _join(path, required), "required field is missing"

    properties: dict[str, Any] = schema.get("properties", {})
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    # An object schema with neither properties nor additionalProperties (e.g. `metadata`)
    # is opaque here: the API server validates it by other means.
    opaque = not properties and additional is None
    for key, item in value.items():
        key_path = _join(path, str(key))
        if not isinstance(key, str):
            yield key_path, f"key {key!r} must be a string"
            continue
        if key in properties:
            yield from _check(item, properties[key], key_path)
        elif isinstance(additional, dict):
            yield from _check(item, additional, key_path)
        elif additional is True or preserve or opaque:
            continue
        else:
            yield key_path, "unknown field"


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


# --------------------------------------------------------------------------- public API


def _objects(source: str, doc: Any) -> Iterator[tuple[str, Any]]:
    """Expand ``kind: List`` documents, as kubectl does."""
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        for index, item in enumerate(doc["items"]):
            yield f"{source} items[{index}]", item
    else:
        yield source, doc


def validate_documents(
    docs: Iterable[tuple[str, Any]], crds: dict[tuple[str, str], CustomResource] | None = None
) -> list[Problem]:
    """Validate parsed documents, each given with its source (e.g. ``path#2``)."""
    registry = load_crds() if crds is None else crds
    groups = {resource.group: resource for resource in registry.values()}
    problems: list[Problem] = []
    for outer_source, outer in docs:
        for source, doc in _objects(outer_source, outer):
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
            found.extend(_check(doc, resource.schema, ""))
            problems.extend(Problem(source, kind, name, field, message) for field, message in found)
    return problems


def _documents(path: Path) -> tuple[list[tuple[str, Any]], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(str(path), "", "", "", f"cannot read: {exc}")]
    docs: list[tuple[str, Any]] = []
    index = 0
    try:
        for index, doc in enumerate(yaml.safe_load_all(text), start=1):
            docs.append((f"{path}#{index}", doc))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return docs, [Problem(f"{path}#{index + 1}", "", "", "", f"YAML syntax error: {reason}{where}")]
    return docs, []


def validate_files(paths: list[Path], crds: dict[tuple[str, str], CustomResource] | None = None) -> list[Problem]:
    """Validate every document of every (multi-document) YAML file; sources read ``path#N`` (N from 1)."""
    registry = load_crds() if crds is None else crds
    problems: list[Problem] = []
    for path in paths:
        docs, syntax = _documents(Path(path))
        problems.extend(validate_documents(docs, registry))
        problems.extend(syntax)
    return problems


# --------------------------------------------------------------------------- CLI


def _expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file()))
        else:
            files.append(path)
    return files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``igw validate``."""
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="YAML manifests (multi-document) or directories of them"
    )
    parser.add_argument(
        "--crds-dir", type=Path, default=None, help=f"directory of CRD YAML files (default: ${CRDS_DIR_ENV} or crds/)"
    )


def run(args: argparse.Namespace) -> int:
    """Print ``OK <file>`` per clean file and one line per problem; 1 when there are problems."""
    try:
        registry = load_crds(getattr(args, "crds_dir", None))
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        print(f"error: cannot load CRDs: {exc}")
        return 2
    files = _expand(args.files)
    status = 0
    from .ignored import ignored_objects  # noqa: PLC0415  (needs the typed models; validation alone does not)
    from .manifests import load_paths  # noqa: PLC0415
    from .translate.objects import ObjectSet  # noqa: PLC0415

    context = ObjectSet.of(load_paths(files)[0])
    for path in files:
        problems = validate_files([path], registry)
        ignored = ignored_objects([path], context)
        for where, why in ignored:
            print(f"WARN {where}: {why}")
        if problems:
            status = 1
            for problem in problems:
                print(problem)
        elif ignored:
            print(f"CHECKED {path}: {len(ignored)} object(s) will not be acted on (WARN above)")
        else:
            print(f"OK {path}")
    if not files:
        print("error: no YAML files found")
        return 2
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="igw validate", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
