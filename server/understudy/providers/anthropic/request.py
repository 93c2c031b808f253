"""The Anthropic Messages request body, checked the way the real API checks it.

Anthropic validates request bodies with pydantic and reports the first problem as
``<dotted.path>: <pydantic message>`` ("max_tokens: Field required",
"messages.0.role: Input should be 'user' or 'assistant'"). Declaring
the body as pydantic types gives that wording for free. Content blocks are a tagged
union on ``type``, so their paths carry the tag as the real ones do
("messages.2.content.0.tool_result: ..."); block types this module doesn't model are
accepted as they are, so a newer client's blocks are never refused.

Union branches that are ours rather than Anthropic's are tagged with a leading ``|``
and left out of the error path.
"""

from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import Discriminator, Field, Tag, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from understudy.core.errors import ApiError

_HIDDEN = "|"
THINKING_DOCS = (
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    "#max-tokens-and-context-window-size"
)


def _text_or_list(value: Any) -> str | None:
    if isinstance(value, str):
        return "|str"
    if isinstance(value, list):
        return "|list"
    return None


def _string_or_blocks(blocks: Any) -> Any:
    """``str | list[blocks]`` where a wrong type reads "Input should be a valid list"."""
    return Annotated[
        Annotated[str, Tag("|str")] | Annotated[list[blocks], Tag("|list")],
        Discriminator(
            _text_or_list,
            custom_error_type="list_type_",
            custom_error_message="Input should be a valid list",
        ),
    ]


class TextBlock(TypedDict):
    type: Literal["text"]
    text: str


class ImageBlock(TypedDict):
    type: Literal["image"]
    source: dict[str, Any]


class DocumentBlock(TypedDict):
    type: Literal["document"]
    source: dict[str, Any]


class OtherBlock(TypedDict):
    """Any block type not modelled here (server tool results, search results, ...)."""

    type: str


class ThinkingBlock(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(TypedDict):
    type: Literal["redacted_thinking"]
    data: str


def _tagged(*blocks: tuple[str, type]) -> Any:
    """A union of block types chosen by ``type``; unknown types fall to ``OtherBlock``."""
    known = {tag for tag, _ in blocks}

    def tag_of(value: Any) -> str | None:
        if not isinstance(value, dict):
            return None
        kind = value.get("type")
        return kind if kind in known else "|other"

    members = tuple(Annotated[block, Tag(tag)] for tag, block in blocks)
    union: Any = members[0]
    for member in members[1:]:
        union = union | member
    return Annotated[
        union | Annotated[OtherBlock, Tag("|other")],
        Discriminator(
            tag_of,
            custom_error_type="dict_type_",
            custom_error_message="Input should be a valid dictionary",
        ),
    ]


ResultContent = _string_or_blocks(
    _tagged(("text", TextBlock), ("image", ImageBlock), ("document", DocumentBlock))
)


class ToolUseBlock(TypedDict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(TypedDict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: NotRequired[ResultContent]
    is_error: NotRequired[bool]


MessageContent = _string_or_blocks(
    _tagged(
        ("text", TextBlock),
        ("image", ImageBlock),
        ("document", DocumentBlock),
        ("tool_use", ToolUseBlock),
        ("tool_result", ToolResultBlock),
        ("thinking", ThinkingBlock),
        ("redacted_thinking", RedactedThinkingBlock),
    )
)
SystemPrompt = _string_or_blocks(TextBlock)


class MessageParam(TypedDict):
    role: Literal["user", "assistant"]
    content: MessageContent


class ToolParam(TypedDict, total=False):
    """A client tool needs a name; some server tools (``mcp_toolset``) have none."""

    name: str
    type: str | None
    description: str
    input_schema: dict[str, Any]


class ToolChoiceAuto(TypedDict):
    type: Literal["auto"]
    disable_parallel_tool_use: NotRequired[bool]


class ToolChoiceAny(TypedDict):
    type: Literal["any"]
    disable_parallel_tool_use: NotRequired[bool]


class ToolChoiceTool(TypedDict):
    type: Literal["tool"]
    name: str
    disable_parallel_tool_use: NotRequired[bool]


class ToolChoiceNone(TypedDict):
    type: Literal["none"]


ToolChoice = Annotated[
    ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone, Field(discriminator="type")
]


class ThinkingEnabled(TypedDict):
    type: Literal["enabled"]
    budget_tokens: Annotated[int, Field(ge=1024)]


class ThinkingDisabled(TypedDict):
    type: Literal["disabled"]


class ThinkingAdaptive(TypedDict):
    type: Literal["adaptive"]


Thinking = Annotated[
    ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive, Field(discriminator="type")
]


class ThreadCreate(TypedDict):
    type: Literal["create"]


class ThreadContinue(TypedDict):
    type: Literal["continue"]
    previous_message_id: str


Thread = Annotated[ThreadCreate | ThreadContinue, Field(discriminator="type")]


class Metadata(TypedDict, total=False):
    user_id: str | None


class CountTokensBody(TypedDict, total=False):
    """``POST /v1/messages/count_tokens``: the conversation, without generation settings."""

    model: Required[str]
    messages: Required[list[MessageParam]]
    system: SystemPrompt
    tools: list[ToolParam]
    tool_choice: ToolChoice
    thinking: Thinking


class MessagesBody(CountTokensBody, total=False):
    max_tokens: Required[Annotated[int, Field(ge=1)]]
    stream: bool
    stop_sequences: list[str]
    temperature: Annotated[float, Field(ge=0, le=1)]
    top_p: Annotated[float, Field(ge=0, le=1)]
    top_k: Annotated[int, Field(ge=0)]
    metadata: Metadata
    service_tier: Literal["auto", "standard_only"]
    thread: Thread | None


_MESSAGES = TypeAdapter(MessagesBody)
_COUNT_TOKENS = TypeAdapter(CountTokensBody)


def _first_error(error: ValidationError) -> ApiError:
    """The first problem, as ``path: message``; the real API reports one at a time."""
    detail = error.errors(include_url=False, include_context=False, include_input=False)[0]
    path = ".".join(
        str(part)
        for part in detail["loc"]
        if not (isinstance(part, str) and part.startswith(_HIDDEN))
    )
    return ApiError(400, f"{path}: {detail['msg']}" if path else detail["msg"])


def _validate(adapter: TypeAdapter, body: Any) -> dict[str, Any]:
    try:
        checked = adapter.validate_python(body)
    except ValidationError as error:
        raise _first_error(error) from None
    thread = checked.get("thread")
    # A thread's continue may send no message: the server resumes a paused turn.
    if not checked["messages"] and not (thread and thread["type"] == "continue"):
        raise ApiError(400, "messages: at least one message is required")
    for index, tool in enumerate(checked.get("tools") or ()):
        if tool.get("type") in (None, "custom") and "name" not in tool:
            raise ApiError(400, f"tools.{index}.name: Field required")
    return checked


def validate_messages(body: Any) -> MessagesBody:
    """The body of ``POST /v1/messages``, validated; raises ``ApiError`` as Anthropic would."""
    checked: Any = _validate(_MESSAGES, body)
    thinking = checked.get("thinking")
    enabled = thinking is not None and thinking["type"] == "enabled"
    if enabled and checked["max_tokens"] <= thinking["budget_tokens"]:
        raise ApiError(
            400,
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
            f"our documentation at {THINKING_DOCS}",
        )
    return checked


def validate_count_tokens(body: Any) -> CountTokensBody:
    """The body of ``POST /v1/messages/count_tokens``, validated."""
    checked: Any = _validate(_COUNT_TOKENS, body)
    return checked
