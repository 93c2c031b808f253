"""Hot reload: watch the scenario paths and swap in a new catalog when files change.

Runs as a task in the app's lifespan. A change reloads the whole catalog the same way
start-up does; if any file is now bad, the error is logged, reported by ``/health`` and
the previous catalog keeps serving, so a half-saved edit never takes the server down and
the next good save is picked up. A file that had scenarios and is now empty is given
``EMPTY_FILE_GRACE`` to be written before the reload (saving by truncate-then-write would
otherwise serve a catalog without it). Runtime scenarios, reply counters and the journal
are untouched by a reload.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Literal

from watchfiles import Change, awatch

from understudy.core.words import plural
from understudy.record.journal import iso_time
from understudy.record.logs import fields
from understudy.scenarios import Catalog, ScenarioError, load_paths
from understudy.scenarios.loader import SUFFIXES, scenario_files
from understudy.state import ServerState

logger = logging.getLogger("understudy.reload")
EMPTY_FILE_GRACE = 2.0
"""Seconds a reload waits for a file that had scenarios and is now empty to be written."""
EMPTY_FILE_POLL = 0.05


def watch_targets(paths: list[str]) -> tuple[list[Path], Callable[[Change, str], bool]]:
    """The directories to watch, and a filter that passes only scenario files.

    A directory is watched whole; a single file is watched through its parent, because
    editors often save by replacing the file.
    """
    folders: set[Path] = set()
    files: set[Path] = set()
    for raw in paths:
        path = Path(raw).resolve()
        if path.is_dir():
            folders.add(path)
        elif path.parent.is_dir():
            files.add(path)
    watched = folders | {file.parent for file in files}

    def relevant(change: Change, name: str) -> bool:
        path = Path(name)
        if path in files:
            return True
        if not any(path.is_relative_to(folder) for folder in folders):
            return False
        # A new folder counts too: files written into it before the watcher noticed it
        # raise no event of their own.
        folder_change = path.is_dir() or (change == Change.deleted and not path.suffix)
        return path.suffix in SUFFIXES or folder_change

    return sorted(watched), relevant


def load_catalog(paths: list[str], text_limit: int) -> Catalog:
    return Catalog(load_paths(paths), text_limit)


def file_sizes(paths: list[str]) -> dict[Path, int]:
    sizes: dict[Path, int] = {}
    for path in scenario_files(paths):
        with contextlib.suppress(OSError):
            sizes[path] = path.stat().st_size
    return sizes


async def settled(paths: list[str], loaded: dict[Path, int]) -> None:
    """Wait, up to ``EMPTY_FILE_GRACE``, while a file that was loaded with content is
    empty: many editors and tools save by truncating, then writing, and a reload in
    between would serve a catalog without that file's scenarios. A file still empty
    after the grace period is taken as emptied on purpose."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EMPTY_FILE_GRACE
    while True:
        sizes = await asyncio.to_thread(file_sizes, paths)
        emptied = [path for path, size in sizes.items() if size == 0 and loaded.get(path)]
        if not emptied:
            return
        if loop.time() >= deadline:
            logger.warning(
                "%s still empty after %.1fs; reloading without it", emptied[0], EMPTY_FILE_GRACE
            )
            return
        await asyncio.sleep(EMPTY_FILE_POLL)


ReloadState = Literal["watching", "off", "failed"]

GONE_CHECK_MS = 1000
"""How often the watcher checks, with no change reported, that its folders still exist."""

RETRY_SECONDS = (1.0, 30.0)
"""The first and the longest wait before restarting a watcher that failed."""


class Watcher:
    """Hot reload, and how it is going: what ``/health`` reports under ``reload``.

    ``state`` is ``watching``, ``off`` (disabled, or nothing to watch) or ``failed`` (the
    file watcher itself broke; it is restarted after a pause). ``last_error`` holds the
    problems of the files on disk while they are bad, so the server is degraded: it still
    serves the catalog loaded at ``last_reload``.
    """

    def __init__(self, state: ServerState) -> None:
        self.server = state
        self.state: ReloadState = "off"
        self.last_error: str | None = None
        self.last_reload = time.time()
        """When the catalog now serving was loaded; it was, just before the watcher."""

    @property
    def degraded(self) -> bool:
        return self.last_error is not None or self.state == "failed"

    def report(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "last_error": self.last_error,
            "last_reload": iso_time(self.last_reload),
        }

    async def reload(self) -> bool:
        """Load the catalog again; keep the old one (and say why) if the files are bad."""
        settings = self.server.settings
        try:
            catalog = await asyncio.to_thread(
                load_catalog, settings.scenarios, settings.match_text_limit
            )
        except ScenarioError as exc:
            problems = exc.problems
        except Exception as exc:  # whatever a file holds, the watcher carries on
            logger.exception("scenario reload failed unexpectedly")
            problems = [f"{type(exc).__name__}: {exc}"]
        else:
            self.server.replace_catalog(catalog)
            self.last_error = None
            self.last_reload = time.time()
            sources = settings.scenarios
            logger.info(
                "reloaded %s from %s",
                plural(len(catalog.scenarios), "scenario"),
                ", ".join(sources),
                extra=fields(scenarios=len(catalog.scenarios), sources=sources),
            )
            return True
        self.last_error = "\n".join(problems)
        logger.error(
            "scenario reload failed; still serving the previous catalog:\n%s",
            self.last_error,
            extra=fields(problems=problems),
        )
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Reload on every change until ``stop``; restart the file watcher if it breaks."""
        paths = self.server.settings.scenarios
        folders, relevant = watch_targets(paths)
        if not folders:
            return
        loaded = await asyncio.to_thread(file_sizes, paths)
        pause = RETRY_SECONDS[0]
        while not stop.is_set():
            self.state = "watching"
            try:
                async for changes in awatch(
                    *folders,
                    watch_filter=relevant,
                    stop_event=stop,
                    step=50,
                    rust_timeout=GONE_CHECK_MS,
                    yield_on_timeout=True,
                ):
                    if changes:
                        await settled(paths, loaded)
                        if await self.reload():
                            loaded = await asyncio.to_thread(file_sizes, paths)
                        pause = RETRY_SECONDS[0]
                    # Checked on every change and every GONE_CHECK_MS: the folder's own
                    # removal is not always reported, and a new folder of that name would
                    # never raise an event.
                    gone = [folder for folder in folders if not folder.is_dir()]
                    if gone:
                        raise FileNotFoundError(f"the watched folder {gone[0]} is gone")
            except Exception as exc:
                logger.error(
                    "scenario watcher failed (%s); restarting it in %.0f s",
                    exc,
                    pause,
                    exc_info=not isinstance(exc, OSError),  # a traceback only if unforeseen
                )
                self.state = "failed"
                self.last_error = f"the file watcher failed: {type(exc).__name__}: {exc}"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
                pause = min(pause * 2, RETRY_SECONDS[1])
                if not stop.is_set():
                    await self.reload()  # files may have changed while nobody watched
        self.state = "off"

    def lifespan(self, app: Any) -> AbstractAsyncContextManager[None]:
        """A Starlette lifespan that runs the watcher while the app serves (if enabled)."""
        return self._serving()

    @contextlib.asynccontextmanager
    async def _serving(self) -> AsyncIterator[None]:
        if not self.server.settings.reload:
            yield
            return
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop))
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
