"""Finding a Python >= 3.12 for the bench venv: candidates are run, never just found on PATH."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from inference_gateway.bench import env


def _exe(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_a_failing_pyenv_shim_is_skipped_for_a_real_interpreter(tmp_path, monkeypatch):
    shims = tmp_path / "shims"
    shims.mkdir()
    _exe(shims / "python3.12", 'echo "pyenv: python3.12: command not found" >&2; exit 127')
    root = tmp_path / "pyenv"
    real = root / "versions" / "3.12.9" / "bin"
    real.mkdir(parents=True)
    # stands in for a real 3.12: answers the probe the way an interpreter >= 3.12 does
    _exe(real / "python3", "exit 0")
    monkeypatch.setenv("PATH", str(shims))
    monkeypatch.setenv("PYENV_ROOT", str(root))
    monkeypatch.delenv("BENCH_PYTHON312", raising=False)
    monkeypatch.delenv("PY312", raising=False)
    assert env.find_python312() == str(real / "python3")


def test_no_working_interpreter_says_what_to_install(tmp_path, monkeypatch):
    shims = tmp_path / "shims"
    shims.mkdir()
    _exe(shims / "python3.12", "exit 127")
    monkeypatch.setenv("PATH", str(shims))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "none"))
    monkeypatch.delenv("BENCH_PYTHON312", raising=False)
    monkeypatch.delenv("PY312", raising=False)
    with pytest.raises(SystemExit, match="apt-get install python3.12-venv"):
        env.find_python312()


def test_the_probe_runs_the_interpreter():
    assert env.runs_as_312(sys.executable) == (sys.version_info >= (3, 12))
    assert not env.runs_as_312("/nonexistent/python3.12")
