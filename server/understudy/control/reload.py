"""Hot reload: watch the scenario paths and swap in a new catalog when files change.

Runs as a task in the app's lifespan. A change reloads the whole catalog the same way
start-up does; if any file is now bad, the error is logged and the previous catalog keeps
serving, so a half-saved edit never takes the server down. A file that had scenarios
and is now empty is given ``EMPTY_FILE_GRACE`` to be written before the reload (saving by
truncate-then-write would otherwise serve a catalog without it). Runtime scenarios, reply
counters and the journal are untouched by a reload.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from watchfiles import Change, awatch

from understudy.core.words import plural
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


def load_catalog(paths: list[str]) -> Catalog:
    return Catalog(load_paths(paths))


async def reload_catalog(state: ServerState) -> bool:
    """Load the catalog again; keep the old one (and log why) if the files are bad."""
    try:
        catalog = await asyncio.to_thread(load_catalog, state.settings.scenarios)
    except ScenarioError as exc:
        logger.error(
            "scenario reload failed; still serving the previous catalog:\n%s",
            exc,
            extra=fields(problems=exc.problems),
        )
        return False
    except ValueError as exc:
        logger.error(
            "scenario reload failed; still serving the previous catalog: %s",
            exc,
            extra=fields(problems=[str(exc)]),
        )
        return False
    state.catalog = catalog
    sources = state.settings.scenarios
    logger.info(
        "reloaded %s from %s",
        plural(len(catalog.scenarios), "scenario"),
        ", ".join(sources),
        extra=fields(scenarios=len(catalog.scenarios), sources=sources),
    )
    return True


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


async def watch(state: ServerState, stop: asyncio.Event) -> None:
    paths = state.settings.scenarios
    folders, relevant = watch_targets(paths)
    if not folders:
        return
    loaded = await asyncio.to_thread(file_sizes, paths)
    try:
        async for _changes in awatch(*folders, watch_filter=relevant, stop_event=stop, step=50):
            await settled(paths, loaded)
            if await reload_catalog(state):
                loaded = await asyncio.to_thread(file_sizes, paths)
    except Exception:
        logger.exception("scenario watcher stopped; hot reload is off")


def lifespan(state: ServerState) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Starlette lifespan that runs the watcher while the app serves (if enabled)."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        if not state.settings.reload:
            yield
            return
        stop = asyncio.Event()
        task = asyncio.create_task(watch(state, stop))
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)

    return run
