"""Child processes we start: tied to our life, stopped by their PID, politely first, bounded.

Every child gets a parent-death signal (Linux `PR_SET_PDEATHSIG`): if this process dies,
even by SIGKILL, the kernel kills the child too. Without it an orphaned Envoy keeps its admin
and listener ports, retries xDS forever, and the next `igw run` cannot start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any, Sequence

# Runs as the child before it becomes the real program: ask for the parent-death signal, check
# the parent is still the one that started us (it may have died before prctl took effect),
# then exec. A `preexec_fn` would do the same between fork and exec, but Python code there,
# in a process with gRPC's threads, crashed the child at random (gRPC's fork handlers).
_EXEC_TIED = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)\n"  # PR_SET_PDEATHSIG, from libc
    "if os.getppid() != int(sys.argv[1]): sys.exit('parent gone before the child started')\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def tied(argv: Sequence[str]) -> list[str]:
    """`argv` run so that it dies with this process (Linux); unchanged elsewhere."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-I", "-S", "-c", _EXEC_TIED, str(os.getpid()), *argv]


async def spawn(*argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """`asyncio.create_subprocess_exec` for a child that must not outlive this process.
    (For `subprocess.Popen`, pass `tied(argv)`.)"""
    return await asyncio.create_subprocess_exec(*tied(argv), **kwargs)


async def stop_child(proc: asyncio.subprocess.Process | None, grace: float = 5.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. A process already gone is left alone."""
    if proc is None or proc.returncode is not None:
        return
    try:
        proc.terminate()
    except ProcessLookupError:
        pass
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except asyncio.TimeoutError:
        try:
            proc.kill()
        except ProcessLookupError:  # it exited just as the grace period ran out
            pass
        await proc.wait()
