"""Understudy: a mock and reference streaming server for LLM provider APIs."""

from understudy._version import __version__

__all__ = ["__version__"]
