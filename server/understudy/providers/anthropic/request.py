"""The Anthropic Messages request body, checked the way the real API checks it.

Anthropic validates request bodies with pydantic in strict mode (``"true"`` is not a
boolean, ``"5"`` not an integer) and reports the first problem as
``<dotted.path>: <pydantic message>`` ("max_tokens: Field required",
"messages.0.content.0: Input tag 'x' found using 'type' does not match any of the
expected tags: ..."). Declaring the body as pydantic types gives that wording for free.
Content blocks and tools are tagged unions on ``type``, so their paths carry the tag as
the real ones do ("messages.2.content.0.tool_result: ...", "tools.0.custom.name: ...").
Block and tool types the official SDK declares but this module doesn't model are
accepted as they are; a type nobody declares is refused.

What pydantic cannot say comes after it, in Anthropic's own words: unknown top-level
parameters, the sampling ranges, tool choice against the tools, the output budget, and
that each ``tool_use`` is answered by a ``tool_result`` in the very next message.

Union branches that are ours rather than Anthropic's are tagged with a leading ``|``
and left out of the error path.
"""

from collections.abc import Iterable
from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from understudy.core.errors import ApiError
from understudy.core.request import STRICT, Strictness

_HIDDEN = "|"
STRICT_TYPES = ConfigDict(strict=True)
THINKING_DOCS = (
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    "#max-tokens-and-context-window-size"
)
TOOL_NAME = r"^[a-zA-Z0-9_-]{1,128}$"

# Block types the official SDK (stable and beta) declares for message content, that this
# module checks no further than their type.
OTHER_BLOCKS = (
    "advisor_tool_result",
    "bash_code_execution_tool_result",
    "code_execution_tool_result",
    "compaction",
    "container_upload",
    "fallback",
    "mcp_tool_listing",
    "mcp_tool_result",
    "mcp_tool_use",
    "search_result",
    "server_tool_use",
    "text_editor_code_execution_tool_result",
    "tool_addition",
    "tool_removal",
    "tool_search_tool_result",
    "web_fetch_tool_result",
    "web_search_tool_result",
)
OTHER_RESULT_BLOCKS = ("browser_state", "search_result", "tool_reference")
# Server tools the official SDK (stable and beta) declares; a tool without a type is a
# custom (client) tool.
SERVER_TOOLS = (
    "advisor_20260301",
    "bash_20241022",
    "bash_20250124",
    "browser_toolset_20260801",
    "code_execution_20250522",
    "code_execution_20250825",
    "code_execution_20260120",
    "code_execution_20260521",
    "computer_20241022",
    "computer_20250124",
    "computer_20251124",
    "computer_toolset_20260801",
    "mcp_toolset",
    "memory_20250818",
    "text_editor_20241022",
    "text_editor_20250124",
    "text_editor_20250429",
    "text_editor_20250728",
    "tool_search_tool_bm25",
    "tool_search_tool_bm25_20251119",
    "tool_search_tool_regex",
    "tool_search_tool_regex_20251119",
    "web_fetch_20250910",
    "web_fetch_20260209",
    "web_fetch_20260309",
    "web_fetch_20260318",
    "web_search_20250305",
    "web_search_20260209",
    "web_search_20260318",
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


class OtherBlock(TypedDict):
    """A block type the SDK declares but this module doesn't model."""

    type: str


def _refuse_tag(tags: Iterable[str]) -> Any:
    """The branch a value with an unknown ``type`` takes: pydantic's own refusal."""
    expected = ", ".join(f"'{tag}'" for tag in sorted(tags))

    def refuse(value: Any) -> Any:
        if "type" not in value:
            raise PydanticCustomError(
                "union_tag_not_found", "Unable to extract tag using discriminator 'type'"
            )
        raise PydanticCustomError(
            "union_tag_invalid",
            "Input tag '{tag}' found using 'type' does not match any of the expected tags: "
            "{expected}",
            {"tag": str(value["type"]), "expected": expected},
        )

    return Annotated[Any, PlainValidator(refuse), Tag("|unknown")]


def _tagged(*blocks: tuple[str, Any], others: tuple[str, ...] = (), default: str = "") -> Any:
    """A union chosen by ``type``: ``blocks`` are modelled, ``others`` only named, and
    any other type is refused. ``default`` is the branch of a value without a type."""
    known = {tag for tag, _ in blocks} | set(others)

    def tag_of(value: Any) -> str | None:
        if not isinstance(value, dict):
            return None
        kind = value.get("type")
        if kind is None and default:
            kind = default
        if isinstance(kind, str) and kind in known:
            return kind
        return "|unknown"

    members = [Annotated[block, Tag(tag)] for tag, block in blocks]
    members += [Annotated[OtherBlock, Tag(tag)] for tag in others]
    members.append(_refuse_tag(known))
    union: Any = members[0]
    for member in members[1:]:
        union = union | member
    return Annotated[
        union,
        Discriminator(
            tag_of,
            custom_error_type="dict_type_",
            custom_error_message="Input should be a valid dictionary",
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


class ThinkingBlock(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(TypedDict):
    type: Literal["redacted_thinking"]
    data: str


ResultContent = _string_or_blocks(
    _tagged(
        ("text", TextBlock),
        ("image", ImageBlock),
        ("document", DocumentBlock),
        others=OTHER_RESULT_BLOCKS,
    )
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
        others=OTHER_BLOCKS,
    )
)
SystemPrompt = _string_or_blocks(TextBlock)


class MessageParam(TypedDict):
    """A turn; ``system`` turns may sit among the others besides the ``system`` prompt."""

    role: Literal["user", "assistant", "system"]
    content: MessageContent


class CustomTool(TypedDict, total=False):
    """A client tool: a name and the JSON schema of its input."""

    type: Literal["custom"] | None
    name: Required[Annotated[str, Field(pattern=TOOL_NAME)]]
    input_schema: Required[dict[str, Any]]
    description: str
    cache_control: dict[str, Any] | None
    strict: bool


class ServerTool(TypedDict):
    """A server tool the SDK declares; its own fields are Anthropic's business."""

    type: str
    name: NotRequired[str]


Tool = _tagged(
    ("custom", CustomTool), *((kind, ServerTool) for kind in SERVER_TOOLS), default="custom"
)


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
    display: NotRequired[Literal["summarized", "omitted"] | None]


class ThinkingDisabled(TypedDict):
    type: Literal["disabled"]


class ThinkingAdaptive(TypedDict):
    type: Literal["adaptive"]
    display: NotRequired[Literal["summarized", "omitted"] | None]


class ThinkingBetweenTools(TypedDict):
    type: Literal["between_tools"]


Thinking = Annotated[
    ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive | ThinkingBetweenTools,
    Field(discriminator="type"),
]


class ThreadCreate(TypedDict):
    type: Literal["create"]


class ThreadContinue(TypedDict):
    type: Literal["continue"]
    previous_message_id: str


Thread = Annotated[ThreadCreate | ThreadContinue, Field(discriminator="type")]


class Metadata(TypedDict, total=False):
    user_id: str | None


Loose = dict[str, Any] | None
"""A parameter the server takes but does not look into."""


class CountTokensBody(TypedDict, total=False):
    """``POST /v1/messages/count_tokens``: the conversation, without generation settings."""

    __pydantic_config__ = STRICT_TYPES  # type: ignore[misc]
    model: Required[Annotated[str, Field(min_length=1)]]
    messages: Required[list[MessageParam]]
    system: SystemPrompt
    tools: list[Tool]
    tool_choice: ToolChoice
    thinking: Thinking
    cache_control: Loose
    output_config: Loose
    speed: Literal["standard", "fast"] | None
    billing_policy: Loose
    compaction: Loose
    context_management: Loose
    mcp_servers: list[dict[str, Any]]


class MessagesBody(CountTokensBody, total=False):
    """``POST /v1/messages``: every parameter of anthropic-python's (stable and beta)
    ``MessageCreateParams``, and the sampling parameters some models still take."""

    max_tokens: Required[Annotated[int, Field(ge=0)]]
    stream: bool
    stop_sequences: list[str]
    temperature: float
    top_p: float
    top_k: Annotated[int, Field(ge=1)]
    metadata: Metadata
    service_tier: Literal["auto", "standard_only"]
    container: str | dict[str, Any] | None
    diagnostics: Loose
    inference_geo: str | None
    fallback_credit_token: Any
    fallbacks: Any
    output_format: Loose
    thread: Thread | None
    """Anthropic's message threads (a beta): ``{"type": "create"}`` or ``{"type":
    "continue", "previous_message_id": ...}``; the server holds the earlier turns."""


def _keys(body: type) -> frozenset[str]:
    return frozenset(body.__required_keys__ | body.__optional_keys__)  # type: ignore[attr-defined]


_MESSAGES = TypeAdapter(MessagesBody)
_COUNT_TOKENS = TypeAdapter(CountTokensBody)
MESSAGES_KEYS = _keys(MessagesBody)
COUNT_TOKENS_KEYS = _keys(CountTokensBody)


def _first_error(error: ValidationError) -> ApiError:
    """The first problem, as ``path: message``; the real API reports one at a time."""
    detail = error.errors(include_url=False, include_context=False, include_input=True)[0]
    loc = detail["loc"]
    if loc[0] == "messages" and loc[2:] == ("role",) and detail["type"] == "literal_error":
        return ApiError(  # Anthropic names the list, not the message, and says it its way
            400,
            f'messages: Unexpected role "{detail["input"]}". The Messages API accepts "user", '
            '"assistant" and "system" as an input message role.',
        )
    path = ".".join(
        str(part) for part in loc if not (isinstance(part, str) and part.startswith(_HIDDEN))
    )
    return ApiError(400, f"{path}: {detail['msg']}" if path else detail["msg"])


def _extra(body: dict[str, Any], known: frozenset[str]) -> None:
    for key in body:
        if key not in known:
            raise ApiError(400, f"{key}: Extra inputs are not permitted")


def _validate(
    adapter: TypeAdapter, known: frozenset[str], body: Any, strictness: Strictness
) -> dict[str, Any]:
    try:
        checked = adapter.validate_python(body)
    except ValidationError as error:
        raise _first_error(error) from None
    if not strictness.lenient:
        _extra(body, known)
    thread = checked.get("thread")
    # A thread's continue may send no message: the server resumes a paused turn.
    if not checked["messages"] and not (thread and thread["type"] == "continue"):
        raise ApiError(400, "messages: at least one message is required")
    thread = checked.get("thread")
    continued = isinstance(thread, dict) and thread.get("type") == "continue"
    if not continued:
        # A continued thread's earlier turns, tools and tool uses are the server's.
        _check_tool_choice(checked)
        check_tool_turns(checked["messages"])
    return checked


def _check_tool_choice(checked: dict[str, Any]) -> None:
    choice = checked.get("tool_choice")
    if choice is None:
        return
    tools = checked.get("tools") or ()
    if not tools:
        raise ApiError(
            400, f"tool_choice.{choice['type']} may only be specified while providing tools"
        )
    if choice["type"] == "tool" and all(tool.get("name") != choice["name"] for tool in tools):
        raise ApiError(400, f"Tool '{choice['name']}' not found in provided tools")


def check_tool_turns(messages: list[dict[str, Any]]) -> None:
    """Each ``tool_result`` answers a ``tool_use`` of the assistant message just before,
    and each ``tool_use`` is answered in the message just after (unless it is the last)."""
    uses: list[str] = []
    """The ``tool_use`` ids of the turn before this one."""
    before = -1
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "system":
            continue
        content = message["content"]
        own: list[str] = []
        answered: set[str] = set()
        if content.__class__ is list:
            for number, block in enumerate(content):
                kind = block["type"]
                if kind == "tool_use":
                    own.append(block["id"])
                elif kind == "tool_result":
                    use = block["tool_use_id"]
                    if use not in uses:
                        raise ApiError(
                            400,
                            f"messages.{index}.content.{number}: unexpected `tool_use_id` found "
                            f"in `tool_result` blocks: {use}. Each `tool_result` block must "
                            "have a corresponding `tool_use` block in the previous message.",
                        )
                    answered.add(use)
        if uses:
            missing = [use for use in uses if use not in answered]
            if missing:
                raise ApiError(
                    400,
                    f"messages.{before}: `tool_use` ids were found without `tool_result` "
                    f"blocks immediately after: {', '.join(missing)}. Each `tool_use` block "
                    "must have a corresponding `tool_result` block in the next message.",
                )
        uses = own if role == "assistant" else []
        before = index


def _check_ranges(checked: dict[str, Any], strictness: Strictness) -> None:
    for key in ("temperature", "top_p"):
        value = checked.get(key)
        if value is not None and not 0 <= value <= 1:
            raise ApiError(400, f"{key}: range: 0..1")
    limit = strictness.max_output_tokens
    budget = checked["max_tokens"]
    if limit and budget > limit:
        raise ApiError(
            400,
            f"max_tokens: {budget} > {limit}, which is the maximum allowed number of output "
            f"tokens for {checked['model']}",
        )
    thinking = checked.get("thinking")
    enabled = thinking is not None and thinking["type"] == "enabled"
    if enabled and budget <= thinking["budget_tokens"]:
        raise ApiError(
            400,
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
            f"our documentation at {THINKING_DOCS}",
        )


def validate_messages(body: Any, strictness: Strictness = STRICT) -> MessagesBody:
    """The body of ``POST /v1/messages``, validated; raises ``ApiError`` as Anthropic would."""
    checked: Any = _validate(_MESSAGES, MESSAGES_KEYS, body, strictness)
    _check_ranges(checked, strictness)
    return checked


def validate_count_tokens(body: Any, strictness: Strictness = STRICT) -> CountTokensBody:
    """The body of ``POST /v1/messages/count_tokens``, validated."""
    checked: Any = _validate(_COUNT_TOKENS, COUNT_TOKENS_KEYS, body, strictness)
    return checked
