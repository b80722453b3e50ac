"""The file provider: objects from a manifests directory (or files), for runs without a cluster.

Reloads when any file changes, once the files have stopped changing (an editor's save is a
truncate and a write, not one atomic step). A file that does not validate, cannot be read,
or has gone blank is reported (file, object, field) and its last good contents are kept, as an
API server keeps the old object when an update is rejected: a half-written pods file must not
read as "no pods". A file that is removed takes its objects with it. The rest of the directory
still takes effect.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import structlog

from ..api import AnyObject
from ..manifests import Problem, manifest_files, read_manifest

log = structlog.get_logger("files")

Fingerprint = dict[Path, tuple[int, int]]


class FileProvider:
    def __init__(self, paths: list[Path], apply: Callable[[list[AnyObject]], None], interval: float = 1.0) -> None:
        self.paths = paths
        self.apply = apply
        self.interval = interval
        self._good: dict[Path, list[AnyObject]] = {}
        self._fingerprint: Fingerprint = {}
        self.problems: list[Problem] = []

    def _scan(self) -> Fingerprint:
        out: Fingerprint = {}
        for f in manifest_files(self.paths):
            try:
                st = f.stat()
            except OSError:
                continue
            out[f] = (st.st_mtime_ns, st.st_size)
        return out

    def load(self) -> list[AnyObject]:
        """Read every file once; returns the objects now in effect."""
        fingerprint = self._scan()
        problems: list[Problem] = []
        good: dict[Path, list[AnyObject]] = {}
        for file in fingerprint:
            read = read_manifest(file)
            last = self._good.get(file)
            if read.blank and last:
                log.warning("manifest is blank (being written?); keeping its last good contents", file=str(file))
                good[file] = last
                continue
            if read.problems:
                problems.extend(read.problems)
                if last is not None:
                    good[file] = last
                    log.error("manifest rejected; keeping its last good contents", file=str(file),
                              problems=[str(p) for p in read.problems])
                else:
                    log.error("manifest rejected", file=str(file), problems=[str(p) for p in read.problems])
                continue
            good[file] = read.objects
        for gone in set(self._good) - set(good):
            log.info("manifest removed; its objects are gone", file=str(gone))
        self._good, self._fingerprint, self.problems = good, fingerprint, problems
        return [obj for objs in good.values() for obj in objs]

    async def _settled(self) -> Fingerprint:
        """The files' fingerprint once it holds still for a moment (bounded: a file rewritten
        without pause is read anyway after a few tries, and judged as it stands)."""
        settle = min(0.2, self.interval)
        before = self._scan()
        for _ in range(10):
            await asyncio.sleep(settle)
            now = self._scan()
            if now == before:
                break
            before = now
        return before

    async def run(self) -> None:
        """Poll for changes until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            if self._scan() != self._fingerprint:
                await self._settled()
                log.info("manifests changed; reloading")
                self.apply(self.load())
