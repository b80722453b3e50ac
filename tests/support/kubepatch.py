"""What the emulated API server does to a body: RFC 7386 merge patches, RFC 6902 JSON patches
(a failed op answers 422, as kube-apiserver does), label and field selectors."""

from __future__ import annotations

import copy
import re
from typing import Any


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message



def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, test, copy, move); ApiError 422 when an op fails."""
    doc = copy.deepcopy(doc)

    def parent(path: str) -> tuple[Any, str]:
        parts = _pointer(path)
        node = doc
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        return node, parts[-1]

    def get(path: str) -> Any:
        node = doc
        for p in _pointer(path):
            node = node[int(p)] if isinstance(node, list) else node[p]
        return node

    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        try:
            if kind == "test":
                if get(path) != op.get("value"):
                    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                                                   f"request: test operation failed at {path}")
                continue
            if kind in ("add", "replace", "copy", "move"):
                value = copy.deepcopy(op["value"]) if kind in ("add", "replace") else get(op["from"])
                if kind == "move":
                    p, k = parent(op["from"])
                    del p[int(k) if isinstance(p, list) else k]
                p, k = parent(path)
                if isinstance(p, list):
                    if k == "-":
                        p.append(value)
                    elif kind == "replace":
                        p[int(k)] = value
                    else:
                        p.insert(int(k), value)
                else:
                    if kind == "replace" and k not in p:
                        raise KeyError(k)
                    p[k] = value
            elif kind == "remove":
                p, k = parent(path)
                del p[int(k) if isinstance(p, list) else k]
            else:
                raise ApiError(422, "Invalid", f"unknown JSON-patch op {kind!r}")
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as err:
            raise ApiError(422, "Invalid", f"JSON-patch {kind} {path} failed: {err!r}")
    return doc


_REQ = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_./-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(selector: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def label_match(selector: str | None, labels: dict[str, str]) -> bool:
    for req in _split_selector(selector or ""):
        m = _REQ.match(req)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {req!r}")
        neg, key, op, value, setop, values = m.groups()
        if op in ("=", "=="):
            ok = labels.get(key) == value
        elif op == "!=":
            ok = labels.get(key) != value
        elif setop:
            choices = {v.strip() for v in values.split(",")}
            ok = labels.get(key) in choices if setop == "in" else labels.get(key) not in choices
        else:
            ok = (key in labels) != bool(neg)
        if not ok:
            return False
    return True


def field_match(selector: str | None, obj: dict[str, Any]) -> bool:
    for req in _split_selector(selector or ""):
        key, op, value = re.match(r"^\s*([^=!]+?)\s*(==|=|!=)\s*(.*?)\s*$", req).groups()  # type: ignore[union-attr]
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if (str(node or "") == value) != (op != "!="):
            return False
    return True
