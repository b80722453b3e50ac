"""Reading manifests from files: YAML documents → typed objects, with problems that name the
file, the object and the field, so a user can fix a typo without reading a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from .api import AnyObject, model_for
from .problems import Problem

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(paths: Iterable[Path]) -> list[Path]:
    """The manifest files among `paths` (directories are searched recursively), sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file())
        else:
            files.append(path)
    return sorted(set(files))


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_document(doc: Any, source: str) -> tuple[AnyObject | None, list[Problem]]:
    """Validate one raw object. Kinds the gateway does not read yield (None, [])."""
    if not isinstance(doc, dict):
        return None, [Problem(source, "", "", "", "not a Kubernetes object (expected a mapping)")]
    model = model_for(doc)
    if model is None:
        return None, []
    kind = str(doc.get("kind", ""))
    name = str((doc.get("metadata") or {}).get("name", "")) if isinstance(doc.get("metadata"), dict) else ""
    try:
        return model.model_validate(doc), []  # type: ignore[return-value]
    except ValidationError as err:
        return None, [
            Problem(source, kind, name, _field_path(e["loc"]), e["msg"]) for e in err.errors()
        ]


def raw_documents(text: str, source: str) -> tuple[list[tuple[str, Any]], list[Problem]]:
    """The raw objects of one YAML text, each with where it came from (`FILE#2`, or
    `FILE#0.items[3]` inside a List as `kubectl get -o yaml` writes), or why there are none."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        return [], [Problem(source, "", "", "", f"invalid YAML: {err}")]
    out: list[tuple[str, Any]] = []
    for index, doc in enumerate(docs):
        items = doc.get("items") if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else None
        for sub_index, item in enumerate(items if isinstance(items, list) else [doc]):
            out.append((f"{source}#{index}" + (f".items[{sub_index}]" if items is not None else ""), item))
    return out, []


def load_documents(text: str, source: str) -> tuple[list[AnyObject], list[Problem]]:
    docs, problems = raw_documents(text, source)
    objects: list[AnyObject] = []
    for where, doc in docs:
        obj, errs = parse_document(doc, where)
        problems.extend(errs)
        if obj is not None:
            objects.append(obj)
    return objects, problems


@dataclass(frozen=True)
class ManifestFile:
    """One file as read now. `blank`: no document at all (empty, or only comments), which is
    also what a file looks like while an editor rewrites it."""

    path: Path
    objects: list[AnyObject]
    problems: list[Problem]
    blank: bool


def read_manifest(file: Path) -> ManifestFile:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return ManifestFile(file, [], [Problem(str(file), "", "", "", f"cannot read: {err}")], False)
    objects, problems = load_documents(text, str(file))
    blank = not problems and not objects and not raw_documents(text, str(file))[0]
    return ManifestFile(file, objects, problems, blank)


def load_paths(paths: Iterable[Path]) -> tuple[list[AnyObject], list[Problem]]:
    """Every object under `paths`; a file that fails to read or parse is reported, not fatal."""
    objects: list[AnyObject] = []
    problems: list[Problem] = []
    for file in manifest_files(paths):
        read = read_manifest(file)
        objects.extend(read.objects)
        problems.extend(read.problems)
    return objects, problems
