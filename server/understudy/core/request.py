"""The neutral request: what every API's request body means to the scenario engine.

Each API module turns its own body into a ``NeutralRequest``; matching and reply
planning see only this, so a scenario written once serves all three APIs.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Api = Literal["chat", "messages", "responses"]
"""An API's name; ``understudy.providers.registry`` holds the APIs themselves."""

NAMESPACE_HEADER = "x-understudy-namespace"
"""Scopes a request's runtime scenarios, ``replies:`` counters, journal and kept replies."""
SCENARIO_HEADER = "x-understudy-scenario"
"""Names the scenario that must answer, whatever the catalog would pick."""
LENIENT_HEADER = "x-understudy-lenient"
"""``1`` lets this request's unknown parameters through; ``0`` refuses them even on a
lenient server."""
Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Strictness:
    """How a request body is checked besides the provider's own rules.

    ``lenient`` lets unknown parameters through, for clients that send an
    OpenAI-compatible endpoint's extra fields on purpose; the types, ranges and shapes of
    known parameters are checked all the same. ``max_output_tokens`` is the largest
    output budget any model offers (0: no limit), so a request asking for more is
    refused as the provider refuses it for every model.
    """

    lenient: bool = False
    max_output_tokens: int = 128_000
    """The server passes its ``max_output_tokens`` setting; this default is for callers
    that parse without a server."""


STRICT = Strictness()


@dataclass(slots=True)
class Message:
    """One conversation turn, flattened to text.

    ``tool_result`` marks a message that carries a tool's output back to the model
    (a Chat ``tool`` message, an Anthropic ``tool_result`` block, a Responses
    ``function_call_output`` item).
    """

    role: Role
    text: str = ""
    tool_calls: tuple[str, ...] = ()
    tool_result: bool = False


ToolChoice = Literal["auto", "none", "required", "tool"]
"""What the request lets the model do with its tools; ``tool`` names one in ``forced_tool``."""


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """The JSON the request asks the reply's text to be (structured output).

    ``schema`` is None for "any JSON object" (Chat's ``json_object``).
    """

    schema: dict[str, Any] | None = None
    name: str = ""
    strict: bool = False


@dataclass(slots=True)
class NeutralRequest:
    api: Api
    model: str
    messages: list[Message]
    system: str = ""
    tools: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    continues: str | None = None
    """The id of a kept reply this request continues (``previous_response_id``, a
    thread's ``previous_message_id``)."""
    thread_id: str | None = None
    """The thread a continuation belongs to: the id of the thread's first reply."""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    tool_schemas: Mapping[str, Any] = field(default_factory=dict)
    """Each offered function tool's argument JSON Schema, by name (for ``arguments: auto``)."""
    tool_choice: ToolChoice = "auto"
    forced_tool: str | None = None
    output: OutputFormat | None = None

    @property
    def tools_callable(self) -> bool:
        """Function tools are offered and the request lets the model call them (built-in
        server tools such as web search are the provider's to call, not the model's)."""
        return bool(self.tool_schemas) and self.tool_choice != "none"

    @property
    def tool_forced(self) -> bool:
        """The request makes the model call a function tool (one it names, or any)."""
        return self.tool_choice == "tool" or (
            self.tool_choice == "required" and bool(self.tool_schemas)
        )

    @property
    def tool_result(self) -> str:
        """The text of the conversation's last tool result, or ``""``."""
        for message in reversed(self.messages):
            if message.tool_result:
                return message.text
        return ""

    @property
    def called_tools(self) -> frozenset[str]:
        """Tools the assistant already called in this conversation."""
        return frozenset(name for m in self.messages for name in m.tool_calls)

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user" and not message.tool_result:
                return message.text
        return ""

    @property
    def turn(self) -> int:
        """How many assistant turns the conversation already holds."""
        return sum(1 for message in self.messages if message.role == "assistant")

    @property
    def ends_with_tool_result(self) -> bool:
        return bool(self.messages) and self.messages[-1].tool_result

    def conversation_text(self) -> str:
        return "\n".join([self.system, *(m.text for m in self.messages)])
