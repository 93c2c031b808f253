"""Understudy: a mock and reference streaming server for LLM provider APIs.

The public surface: ``create_app`` and ``Settings`` to run the server (or embed it in an
ASGI stack), the test helpers ``Understudy``/``UnderstudyServer`` with their
``UnderstudyError``, and ``ScenarioError`` for a bad scenario file. Everything else is
internal and may change.
"""

from understudy._version import __version__
from understudy.app import create_app
from understudy.scenarios import ScenarioError
from understudy.settings import Settings
from understudy.testing import Understudy, UnderstudyError, UnderstudyServer

__all__ = [
    "ScenarioError",
    "Settings",
    "Understudy",
    "UnderstudyError",
    "UnderstudyServer",
    "__version__",
    "create_app",
]
