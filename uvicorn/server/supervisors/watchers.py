"""File watching for ``--reload``: watchfiles when installed, stat polling otherwise.

Both watchers apply the same filter: a file counts when its name (or path
relative to a watched directory) matches an include pattern and neither it nor
any directory above it (inside the watched directory) matches an exclude
pattern. The defaults are uvicorn's: include ``*.py``; exclude ``.*``,
``.py[cod]``, ``.sw.*`` and ``~*``. A pattern given as an exclude removes the
same default include, and the other way round.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

__all__ = ["ChangeFilter", "StatWatcher", "WatchFilesWatcher", "make_watcher"]

logger = logging.getLogger("uvicorn.error")

DEFAULT_INCLUDES = ["*.py"]
DEFAULT_EXCLUDES = [".*", ".py[cod]", ".sw.*", "~*"]


class ChangeFilter:
    def __init__(
        self, directories: list[Path], includes: Iterable[str], excludes: Iterable[str]
    ) -> None:
        includes = list(includes)
        excludes = list(excludes)
        self.directories = directories
        self.includes = [p for p in [*DEFAULT_INCLUDES, *includes] if p not in excludes]
        self.excludes = [p for p in [*DEFAULT_EXCLUDES, *excludes] if p not in includes]

    def _excluded(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.excludes)

    def __call__(self, path: Path) -> bool:
        for directory in self.directories:
            try:
                relative = path.relative_to(directory)
            except ValueError:
                continue
            text = relative.as_posix()
            if self._excluded(text) or any(self._excluded(part) for part in relative.parts):
                return False
            return any(
                fnmatch.fnmatch(relative.name, pattern) or fnmatch.fnmatch(text, pattern)
                for pattern in self.includes
            )
        return False


class WatchFilesWatcher:
    name = "WatchFiles"

    def __init__(self, change_filter: ChangeFilter, delay: float) -> None:
        self.filter = change_filter
        self.delay = delay

    def changes(self, stop: threading.Event) -> Iterator[list[Path]]:
        import watchfiles

        for batch in watchfiles.watch(
            *self.filter.directories,
            watch_filter=lambda _change, path: self.filter(Path(path)),
            stop_event=stop,
            debounce=max(int(self.delay * 1000), 50),
            yield_on_timeout=False,
            raise_interrupt=False,
        ):
            yield sorted({Path(path) for _change, path in batch})


class StatWatcher:
    """Polls modification times every ``delay`` seconds; for machines without watchfiles."""

    name = "StatReload"

    def __init__(self, change_filter: ChangeFilter, delay: float) -> None:
        self.filter = change_filter
        self.delay = delay

    def _snapshot(self) -> dict[Path, float]:
        times: dict[Path, float] = {}
        for directory in self.filter.directories:
            for root, dirs, files in os.walk(directory):
                dirs[:] = [d for d in dirs if not self.filter._excluded(d)]
                for name in files:
                    path = Path(root, name)
                    if self.filter(path):
                        try:
                            times[path] = path.stat().st_mtime
                        except OSError:
                            continue
        return times

    def changes(self, stop: threading.Event) -> Iterator[list[Path]]:
        before = self._snapshot()
        while not stop.wait(self.delay):
            now = self._snapshot()
            changed = sorted(
                path for path in before.keys() | now.keys() if before.get(path) != now.get(path)
            )
            before = now
            if changed:
                yield changed


def make_watcher(
    directories: list[Path], includes: Iterable[str], excludes: Iterable[str], delay: float
) -> WatchFilesWatcher | StatWatcher:
    change_filter = ChangeFilter(directories, includes, excludes)
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return StatWatcher(change_filter, delay)
    return WatchFilesWatcher(change_filter, delay)


def watch_in_thread(
    watcher: WatchFilesWatcher | StatWatcher,
    on_change: Callable[[list[Path]], None],
) -> Callable[[], None]:
    """Run the watcher in a daemon thread; returns the function that stops it."""
    stop = threading.Event()

    def run() -> None:
        for changed in watcher.changes(stop):
            if stop.is_set():
                return
            on_change(changed)

    thread = threading.Thread(target=run, name="uvicorn-reload", daemon=True)
    thread.start()

    def stop_watching() -> None:
        stop.set()
        thread.join(2)

    return stop_watching
