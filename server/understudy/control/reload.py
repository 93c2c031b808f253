"""Hot reload: watch the scenario paths and swap in a new catalog when files change.

Runs as a task in the app's lifespan. A change reloads the whole catalog the same way
start-up does; if any file is now bad, the error is logged and the previous catalog keeps
serving, so a half-saved edit never takes the server down. Runtime scenarios, reply
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

from understudy.scenarios import Catalog, ScenarioError, load_paths
from understudy.scenarios.loader import SUFFIXES
from understudy.state import ServerState

logger = logging.getLogger("understudy.reload")


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
        logger.error("scenario reload failed; still serving the previous catalog:\n%s", exc)
        return False
    except ValueError as exc:
        logger.error("scenario reload failed; still serving the previous catalog: %s", exc)
        return False
    state.replace_catalog(catalog)
    logger.info("reloaded %d scenarios", len(catalog.scenarios))
    return True


async def watch(state: ServerState, stop: asyncio.Event) -> None:
    folders, relevant = watch_targets(state.settings.scenarios)
    if not folders:
        return
    try:
        async for _changes in awatch(*folders, watch_filter=relevant, stop_event=stop, step=50):
            await reload_catalog(state)
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
