"""bench/router_capacity.py: the older commit's gateway runs from its own exported tree, and the
pinning puts every thread of a process on the cores asked for."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from inference_gateway.bench import router_capacity


def test_an_exported_commit_imports_as_the_package_from_its_own_tree(tmp_path):
    path = router_capacity.export_commit("HEAD", tmp_path / "then")
    out = subprocess.run(
        [sys.executable, "-P", "-c", "import inference_gateway.router.extproc as m; print(m.__file__)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(path)}, timeout=60, check=True)
    assert out.stdout.strip() == str(tmp_path / "then" / "pkg" / "inference_gateway" / "router" / "extproc.py")


def test_an_unknown_commit_stops_with_a_clear_message(tmp_path):
    with pytest.raises(SystemExit, match="git archive no-such-ref failed"):
        router_capacity.export_commit("no-such-ref", tmp_path / "then")


@pytest.mark.skipif((os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"), reason="needs 2 CPUs, Linux")
def test_pin_moves_every_thread_of_the_process():
    everything = os.sched_getaffinity(0)
    started, stop = threading.Event(), threading.Event()
    worker = threading.Thread(target=lambda: (started.set(), stop.wait(10)))
    worker.start()
    started.wait(10)
    try:
        router_capacity.pin(os.getpid(), {0})
        assert os.sched_getaffinity(worker.native_id) == {0}
        assert os.sched_getaffinity(0) == {0}
    finally:
        router_capacity.pin(os.getpid(), everything)
        stop.set()
        worker.join(10)
    assert os.sched_getaffinity(0) == everything
