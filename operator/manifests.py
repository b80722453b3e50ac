"""Reading manifests from files: YAML documents → typed objects, with problems that name the
file, the object and the field, so a user can fix a typo without reading a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from .api import AnyObject, model_for, parse_object
from .problems import Problem

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(paths: Iterable[Path], suffixes: tuple[str, ...] = MANIFEST_SUFFIXES) -> list[Path]:
    """The manifest files among `paths` (directories are searched recursively, in order)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in suffixes and p.is_file()))
        elif path not in files:
            files.append(path)
    return list(dict.fromkeys(files))


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
    if model_for(doc) is None:
        return None, []
    kind = str(doc.get("kind", ""))
    name = str((doc.get("metadata") or {}).get("name", "")) if isinstance(doc.get("metadata"), dict) else ""
    try:
        return parse_object(doc), []
    except ValidationError as err:
        return None, [
            Problem(source, kind, name, _field_path(e["loc"]), e["msg"]) for e in err.errors()
        ]


def expand_list(source: str, doc: Any) -> list[tuple[str, Any]]:
    """A List's items (`kubectl get -o yaml` writes one), each named `SOURCE items[i]`; else the doc."""
    items = doc.get("items") if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else None
    if isinstance(items, list):
        return [(f"{source} items[{i}]", item) for i, item in enumerate(items)]
    return [(source, doc)]


def raw_documents(text: str, source: str) -> tuple[list[tuple[str, Any]], list[Problem]]:
    """The raw objects of one YAML text, each with where it came from (`FILE#2`, counting from
    1, or `FILE#1 items[3]` inside a List as `kubectl get -o yaml` writes), and the YAML error
    that stopped the reading, if any (the documents before it are returned)."""
    out: list[tuple[str, Any]] = []
    index = 0
    try:
        for index, doc in enumerate(yaml.safe_load_all(text), start=1):
            if doc is not None:  # None: an empty document (a trailing `---`)
                out.extend(expand_list(f"{source}#{index}", doc))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = getattr(err, "problem", None) or str(err)
        return out, [Problem(f"{source}#{index + 1}", "", "", "", f"YAML syntax error: {reason}{where}")]
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
