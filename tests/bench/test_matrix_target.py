"""`make bench-matrix` takes hours, so no test runs it; this one checks that every command it
would run is one `igw bench` accepts, with routers, workloads and profiles that exist."""

from __future__ import annotations

import argparse
import shlex
import subprocess
from pathlib import Path

from inference_gateway.bench.cli import add_arguments
from inference_gateway.bench.routers import ROUTERS
from inference_gateway.bench.workloads import workloads
from inference_gateway.simulator.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[list[str]]:
    out = subprocess.run(["make", "-n", "-C", str(ROOT), "bench-matrix", "MATRIX_OUT=/tmp/m"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    lines = out.replace("\\\n", " ").splitlines()
    # Only the bench commands are split: a stale venv stamp makes `make -n` print its install
    # recipe too, whose comment ("the package's …") is no shell word list.
    return [shlex.split(line)[2:] for line in lines if line.startswith(".venv/bin/igw bench ")]


def test_every_bench_matrix_command_parses_and_names_what_exists():
    commands = _commands()
    assert len(commands) == 7  # 4 cells of 2 workloads, PD, the sweep, the assembly
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    seen = set()
    for argv in commands:
        args = parser.parse_args(argv)
        assert args.repeats >= 3  # headline figures are medians of >= 3 repeats
        assert set(args.routers.split(",")) <= set(ROUTERS)
        assert args.workloads is None or set(args.workloads.split(",")) <= set(workloads(False))
        assert all(p in PROFILES for p in args.profile.split(","))
        if not args.rerender:
            seen.update((p + (" PD" if args.pd else ""), w) for p in args.profile.split(",")
                        for w in (args.workloads or "").split(",") if not args.sweep)
    # every workload on both pod profiles, and PD pools
    assert {(p, w) for p in ("h100-32b", "h100-8b") for w in workloads(False)} <= seen
    assert ("h100-32b PD", "shared-prefix") in seen
    assert any(a.sweep for a in map(parser.parse_args, commands))
