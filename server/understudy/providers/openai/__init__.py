"""OpenAI: Chat Completions and Responses, and the conventions they share."""

from understudy.providers.openai.chat import CHAT
from understudy.providers.openai.provider import OPENAI
from understudy.providers.openai.responses import RESPONSES

__all__ = ["CHAT", "OPENAI", "RESPONSES"]
