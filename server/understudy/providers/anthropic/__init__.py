"""Anthropic: Messages, and Anthropic's conventions."""

from understudy.providers.anthropic.messages import MESSAGES
from understudy.providers.anthropic.provider import ANTHROPIC

__all__ = ["ANTHROPIC", "MESSAGES"]
