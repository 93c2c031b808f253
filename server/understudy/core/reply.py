"""The neutral reply: what the model says, already split into stream pieces.

Built once per request by ``understudy.plan`` from the scenario's reply; renderers only
translate it into wire events.
"""

from dataclasses import dataclass, field


@dataclass(slots=True)
class ToolCall:
    name: str
    arguments: str
    fragments: list[str]
    id: str | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Reply:
    model: str
    reasoning: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=lambda: Usage(0, 0))

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    @property
    def content_text(self) -> str:
        return "".join(self.content)

    @property
    def refusal_text(self) -> str:
        return "".join(self.refusal)


@dataclass(slots=True)
class Reading:
    """A reply read back from an API's wire format, for recording.

    ``token_times`` holds when each token event arrived, in the order the API's renderer
    paces its token events (text pieces, tool-call openings and argument fragments), so
    a replay can wait the same gaps.
    """

    reply: Reply
    usage_reported: bool = False
    """The upstream reported token counts (a stream without usage does not)."""
    token_times: list[float] = field(default_factory=list)
