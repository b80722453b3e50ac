"""Reading manifests from files: YAML documents → typed objects, with problems that name the
file, the object and the field, so a user can fix a typo without reading a traceback."""

from __future__ import annotations

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


def load_documents(text: str, source: str) -> tuple[list[AnyObject], list[Problem]]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        return [], [Problem(source, "", "", "", f"invalid YAML: {err}")]
    objects: list[AnyObject] = []
    problems: list[Problem] = []
    for index, doc in enumerate(docs):
        # A List (kubectl get -o yaml) holds its objects under items.
        items = doc.get("items") if isinstance(doc, dict) and doc.get("kind", "").endswith("List") else None
        for sub_index, item in enumerate(items if isinstance(items, list) else [doc]):
            where = f"{source}#{index}" + (f".items[{sub_index}]" if items is not None else "")
            obj, errs = parse_document(item, where)
            problems.extend(errs)
            if obj is not None:
                objects.append(obj)
    return objects, problems


def load_paths(paths: Iterable[Path]) -> tuple[list[AnyObject], list[Problem]]:
    """Every object under `paths`; a file that fails to read or parse is reported, not fatal."""
    objects: list[AnyObject] = []
    problems: list[Problem] = []
    for file in manifest_files(paths):
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as err:
            problems.append(Problem(str(file), "", "", "", f"cannot read: {err}"))
            continue
        objs, errs = load_documents(text, str(file))
        objects.extend(objs)
        problems.extend(errs)
    return objects, problems
