"""Helpers for the benchmark's tests."""

from __future__ import annotations

import argparse
import asyncio

import pytest


@pytest.fixture
def igw_bench():
    """`igw bench ARGV` in this process, without `main()`'s global log configuration (which
    would outlive the test and change how later tests capture structlog's output)."""
    from inference_gateway.bench import cli

    def run(argv: list[str]) -> int:
        parser = argparse.ArgumentParser()
        cli.add_arguments(parser)
        return asyncio.run(cli.run(parser.parse_args(argv), argv))

    return run
