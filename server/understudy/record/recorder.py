"""A recording session: which requests go to the upstream, and the file they are kept in.

The target is a folder (each session writes its own ``recording-<time>.yaml`` there) or
one scenario file (the pytest plugin's cassette per test). Modes follow vcrpy and
pytest-recording:

- ``none``: replay only; an unmatched request gets the provider's 404 with near misses;
- ``once``: record everything if there is no recording yet, else replay only;
- ``new_episodes``: replay what matches, forward and record what does not;
- ``all``: forward and record everything; the session replaces earlier recordings
  (only files this recorder wrote, recognised by their first line).

Each write replaces the whole file atomically (a temporary file, then a rename), so a
reader (hot reload, a person) never sees half a file.
"""

import itertools
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from understudy._version import __version__
from understudy.scenarios import ScenarioError, load_text
from understudy.scenarios.loader import SUFFIXES
from understudy.settings import Settings

MODES = ("none", "once", "new_episodes", "all")
DEFAULT_MODE = "new_episodes"
HEADER = "# Recorded by Understudy"
_NOTE = (
    " {version}: one scenario per exchange; edit freely.\n"
    "# Kept: match, reply, measured delivery. Never kept: API keys and other credentials.\n"
)


def _is_recording(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as file:
            return file.readline().startswith(HEADER)
    except OSError:
        return False


def _dump(scenario: dict[str, Any]) -> str:
    return yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=10**9)


class Recorder:
    """One server's recording session."""

    def __init__(self, target: Path, mode: str = DEFAULT_MODE, timing: str = "exact") -> None:
        if mode not in MODES:
            raise ValueError(f"record mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.target = target
        self.mode = mode
        self.timing = timing
        self.single_file = target.suffix in SUFFIXES
        existing = self._recordings()
        self.proxy_all = mode == "all" or (mode == "once" and not existing)
        """Every request goes to the upstream, matched or not."""
        self.proxying = self.proxy_all or mode == "new_episodes"
        """Some requests go to the upstream (the rest are replayed)."""
        self._kept = ""
        """Scenario text of the target file this session appends to."""
        self._stale: list[Path] = []
        """Earlier recordings this session replaces (mode ``all``), removed on first write."""
        names: set[str] = set()
        if self.single_file:
            self.session = target
            if existing and mode == "new_episodes":
                self._kept = target.read_text(encoding="utf-8")
                names = self._names_in(self._kept)
        else:
            if self.proxying:
                target.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
            self.session = target / f"recording-{stamp}.yaml"
            for count in itertools.count(2):
                if not self.session.exists():
                    break
                self.session = target / f"recording-{stamp}-{count}.yaml"
            if mode == "all":
                self._stale = existing
        self.prefix = self.session.stem
        self._names = names
        self._scenarios: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings) -> "Recorder | None":
        """The session ``settings`` ask for; None without ``record``. Makes the target's
        scenarios part of the served catalog."""
        if not settings.record:
            return None
        recorder = cls(
            Path(settings.record), settings.record_mode or DEFAULT_MODE, settings.record_timing
        )
        if recorder.target.exists() and str(recorder.target) not in settings.scenarios:
            settings.scenarios = [*settings.scenarios, str(recorder.target)]
        return recorder

    def _recordings(self) -> list[Path]:
        """What ``once`` counts as an existing cassette, and ``all`` replaces."""
        if self.single_file:
            return [self.target] if self.target.is_file() else []
        if not self.target.is_dir():
            return []
        files = (path for path in self.target.glob("*") if path.suffix in SUFFIXES)
        return sorted(path for path in files if _is_recording(path))

    @staticmethod
    def _names_in(text: str) -> set[str]:
        try:
            return {scenario.name for scenario in load_text(text)}
        except ScenarioError:
            return set()

    def _name(self) -> str:
        for number in itertools.count(len(self._scenarios) + 1):
            name = f"{self.prefix}-{number}"
            if name not in self._names:
                self._names.add(name)
                return name
        raise AssertionError("unreachable")

    def add(self, match: dict[str, Any], reply: dict[str, Any]) -> str:
        """Keep one exchange and rewrite the session file; return the scenario's name.

        A request that repeats one already recorded this session (the same match) adds
        to that scenario's ``replies:``, served in order on replay.
        """
        with self._lock:
            for scenario in self._scenarios:
                if scenario["match"] == match:
                    if "reply" in scenario:
                        scenario["replies"] = [scenario.pop("reply")]
                    scenario["replies"].append(reply)
                    self._write()
                    return scenario["name"]
            name = self._name()
            self._scenarios.append({"name": name, "match": match, "reply": reply})
            self._write()
            return name

    def text(self) -> str:
        kept = self._kept
        if kept.startswith(HEADER):
            kept = kept.split("\n", 2)[2] if kept.count("\n") >= 2 else ""
        documents = [kept.strip("\n")] if kept.strip() else []
        documents += [_dump(scenario).rstrip("\n") for scenario in self._scenarios]
        head = HEADER + _NOTE.format(version=__version__)
        return head + "".join(f"---\n{document}\n" for document in documents)

    def _write(self) -> None:
        self.session.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=".recording-", suffix=".tmp", dir=self.session.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(self.text())
            os.replace(temporary, self.session)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for stale in self._stale:
            if stale != self.session:
                stale.unlink(missing_ok=True)
        self._stale = []
