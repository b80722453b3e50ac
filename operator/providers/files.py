"""The file provider: objects from a manifests directory (or files), for runs without a cluster.

Reloads when any file changes. A file that does not validate is reported (file, object,
field) and its last good contents are kept, as an API server keeps the old object when an
update is rejected; the rest of the directory still takes effect.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import structlog

from ..api import AnyObject
from ..manifests import Problem, load_paths, manifest_files

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
            objects, errs = load_paths([file])
            if errs:
                problems.extend(errs)
                if file in self._good:
                    good[file] = self._good[file]
                    log.error("manifest rejected; keeping its last good contents", file=str(file),
                              problems=[str(p) for p in errs])
                else:
                    log.error("manifest rejected", file=str(file), problems=[str(p) for p in errs])
                continue
            good[file] = objects
        self._good, self._fingerprint, self.problems = good, fingerprint, problems
        return [obj for objs in good.values() for obj in objs]

    async def run(self) -> None:
        """Poll for changes until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            if self._scan() != self._fingerprint:
                log.info("manifests changed; reloading")
                self.apply(self.load())
