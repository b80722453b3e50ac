"""The Dockerfile, checked statically (no container engine here), and the wheel it builds."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|python3?-dev|libc6?-dev|cargo|rustc)\b")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions((REPO / "Dockerfile").read_text()):
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _args() -> dict[str, str]:
    pre = _instructions((REPO / "Dockerfile").read_text())
    return dict(a.split("=", 1) for w, a in pre[: next(i for i, (w, _) in enumerate(pre) if w == "FROM")] if w == "ARG")


def _last(stage, word):
    found = [a for w, a in stage if w == word]
    return found[-1] if found else None


def test_multi_stage_with_slim_python_final():
    stages = _stages()
    assert len(stages) >= 2
    image = stages[-1][0][1].split()[0]
    image = re.sub(r"\$\{(\w+)\}", lambda m: _args()[m.group(1)], image)
    assert image == "python:3.11-slim"


def test_final_stage_runs_igw_as_non_root():
    final = _stages()[-1]
    user = _last(final, "USER")
    assert user is not None and user.split(":")[0] == "65532"
    assert json.loads(_last(final, "ENTRYPOINT")) == ["igw"]
    assert json.loads(_last(final, "CMD")) == ["run"]


def test_final_stage_has_no_build_tools_and_no_editable_install():
    final = _stages()[-1]
    for word, args in final:
        if word == "RUN":
            assert not BUILD_TOOLS.search(args), args
            assert "pip install" not in args, "the final stage copies the venv; it installs nothing"
    for stage in _stages():
        for word, args in stage:
            assert not (word == "RUN" and re.search(r"pip install.*(-e|--editable)\b", args)), args


def test_read_only_root_filesystem_environment():
    env = " ".join(a for w, a in _stages()[-1] if w == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp", "IGW_CRDS_DIR=/opt/inference-gateway/crds"):
        assert setting in env
    copies = [a for w, a in _stages()[-1] if w == "COPY"]
    assert "crds/ /opt/inference-gateway/crds/" in copies


def test_python_runs_with_isolated_path_in_builder():
    """`operator/` in the build dir would shadow the stdlib unless python runs with -P."""
    for stage in _stages():
        for word, args in stage:
            if word == "RUN":
                for call in re.findall(r"(?:^|&&|\s)(\S*python3?)\s+(-\S+)", args):
                    assert call[1].startswith("-P"), args


def _context_sources() -> list[str]:
    """Paths the Dockerfile COPYs from the build context (not --from=...)."""
    sources = []
    for stage in _stages():
        for word, args in stage:
            if word == "COPY" and "--from" not in args:
                sources.extend(args.split()[:-1])
    return [s.rstrip("/") for s in sources]


def _dockerignore_allows(path: str) -> bool:
    allowed = False
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            allowed = negate
    return allowed


def _package_dirs() -> dict[str, str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return pyproject["tool"]["setuptools"]["package-dir"]


def test_build_context_has_every_package_and_the_crds():
    sources = _context_sources()
    for directory in list(_package_dirs().values()) + ["crds", "pyproject.toml"]:
        assert directory in sources, f"Dockerfile does not COPY {directory}"
    for source in sources:
        assert _dockerignore_allows(source), f".dockerignore excludes {source}"
    for ignored in (".venv", ".git", "tests", "bench/results"):  # bench/ is a package; its reports are not
        assert not _dockerignore_allows(ignored)


def test_wheel_contains_every_package(tmp_path: Path):
    """Build the wheel from exactly what the Dockerfile copies, as its builder stage does."""
    context = tmp_path / "context"
    context.mkdir()
    for source in _context_sources():
        if source == "crds":
            continue  # final stage only
        origin = REPO / source
        if not origin.exists():
            pytest.fail(f"the Dockerfile copies {source}, which does not exist in the repository")
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("inference_gateway-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    expected = set()
    for package, directory in _package_dirs().items():
        for init in (REPO / directory).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(REPO / directory)
            expected.add("/".join([*package.split("."), *relative.parts, "__init__.py"]))
    missing = sorted(expected - names)
    assert not missing, f"packages missing from the wheel (add them to [tool.setuptools] packages): {missing}"
    assert any(n.endswith("entry_points.txt") for n in names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert re.search(r"^igw\s*=", entry_points, re.M)
