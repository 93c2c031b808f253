"""The scenario format, validated with pydantic.

Fields that accept several shapes (``api: chat`` or ``api: [chat, messages]``, ``turn: 2``
or ``turn: {min: 1}``) are normalised by ``before`` validators, so error locations stay
plain paths such as ``replies[1].tool_calls[0].arguments`` rather than pydantic's
union branch names. Each such field declares its short forms where it converts them
(``understudy.format.models``), so the JSON Schema built from these models
(``understudy schema``) admits every form the loader does.
"""

import json
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    GetJsonSchemaHandler,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue as JsonSchema
from pydantic_core import CoreSchema

from understudy.faults.specs import (
    ApiName,
    ChaosSpec,
    ErrorSpec,
    FaultSpec,
    FramingSpec,
    check_faults,
)
from understudy.format.files import document_schema, model_schema
from understudy.format.models import OneOrList, Shorthand, Strict, is_number, is_whole
from understudy.providers import API_NAMES
from understudy.scenarios import patterns, template
from understudy.stream.pacing import Timing

FinishReason = Literal[
    "stop", "length", "tool_calls", "content_filter", "refusal", "stop_sequence", "pause_turn"
]


Pattern = Annotated[str, AfterValidator(patterns.check)]
"""A regex RE2 can run; checked where it is given, so an error names its own field."""


class TurnRange(Shorthand):
    """Assistant turns so far; ``turn: 2`` is ``{min: 2, max: 2}``."""

    ACCEPTS = "a whole number or {min, max}"
    SHORT_FORMS = ({"type": "integer", "minimum": 0},)

    min: NonNegativeInt | None = None
    max: NonNegativeInt | None = None

    @classmethod
    def expand(cls, value: Any) -> dict[str, Any] | None:
        return {"min": value, "max": value} if is_whole(value) else None


class Match(Strict):
    """Conditions on the request; every condition given must hold."""

    model: str | None = Field(None, description="Model name, exact or a glob such as 'gpt-4*'.")
    api: OneOrList[ApiName] | None = Field(
        None, description=f"{', '.join(API_NAMES)}, or a list; 'endpoint' is another name for it."
    )
    last_user_message: Pattern | None = Field(
        None, description="Regex (RE2 syntax) searched in the last user message."
    )
    contains: str | None = Field(
        None, description="Case-insensitive substring of any message or the system prompt."
    )
    system: Pattern | None = Field(
        None, description="Regex (RE2 syntax) searched in the system prompt."
    )
    headers: dict[str, Pattern] | None = Field(
        None, description="Header name to regex (RE2 syntax)."
    )
    tools: OneOrList[str] | None = Field(
        None, description="Tool names that must all be offered: one name or a list."
    )
    tool_result: bool | None = Field(
        None, description="Whether the conversation's last message is a tool result."
    )
    turn: TurnRange | None = Field(
        None, description="Assistant turns so far: a number or {min, max}."
    )
    tools_offered: bool | None = Field(
        None, description="Whether the request offers tools the model may call."
    )
    tool_forced: bool | None = Field(
        None, description="Whether tool_choice makes the model call a tool (named, or any)."
    )
    structured_output: bool | None = Field(
        None,
        description="Whether the request asks for JSON output (a json_schema or json_object "
        "response format, Responses text.format, Anthropic output_config.format).",
    )

    @model_validator(mode="before")
    @classmethod
    def _endpoint_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "endpoint" in data:
            data = dict(data)
            if "api" in data:
                raise ValueError("give either 'api' or 'endpoint', not both")
            data["api"] = data.pop("endpoint")
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchema:
        reference = handler(schema)
        definition = handler.resolve_ref_schema(reference)
        properties = definition["properties"]
        properties["endpoint"] = {**properties["api"], "description": "Another name for api."}
        definition["not"] = {"required": ["api", "endpoint"]}
        return reference

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else {name.lower(): pattern for name, pattern in value.items()}


_CHUNKING_SCHEMA = {
    "description": "'words' (default), 'none', {chars: N}, or an explicit list of content chunks.",
    "anyOf": [
        {"enum": ["words", "none"]},
        {
            "type": "object",
            "properties": {"chars": {"type": "integer", "minimum": 1}},
            "required": ["chars"],
            "additionalProperties": False,
        },
        {"type": "array", "items": {"type": "string"}},
    ],
}


class JitterSpec(Shorthand):
    """Random variation of every gap (TTFT included), reproducible from the delivery seed;
    ``jitter: 5`` is ``{distribution: uniform, ms: 5}``."""

    ACCEPTS = "a number (ms, uniform) or {distribution, ms, min_ms, max_ms}"
    SHORT_FORMS = ({"type": "number", "minimum": 0, "description": "Uniform, plus or minus ms."},)

    distribution: Literal["fixed", "uniform", "normal"] = Field(
        "uniform",
        description="uniform: +-ms; normal: standard deviation ms; fixed: always +ms.",
    )
    ms: NonNegativeFloat = 0.0
    min_ms: float | None = Field(None, description="Lower bound of the jitter (clamped).")
    max_ms: float | None = Field(None, description="Upper bound of the jitter (clamped).")

    @classmethod
    def expand(cls, value: Any) -> dict[str, Any] | None:
        return {"distribution": "uniform", "ms": value} if is_number(value) else None

    @model_validator(mode="after")
    def _bounds(self) -> "JitterSpec":
        if self.min_ms is not None and self.max_ms is not None and self.min_ms > self.max_ms:
            raise ValueError("min_ms must not exceed max_ms")
        return self


class WaitSpec(Strict):
    """A scripted pause before one event, on top of the normal pacing."""

    after_events: NonNegativeInt = Field(description="Events sent before the pause.")
    ms: NonNegativeFloat


_EXCLUSIVE = (("itl_ms", "tokens_per_second"), ("jitter_ms", "jitter"))


class Delivery(Strict):
    """How a reply is paced and split into stream events."""

    chunking: Annotated[Any, WithJsonSchema(_CHUNKING_SCHEMA)] = "words"
    ttft_ms: NonNegativeFloat | None = Field(None, description="Time to the first token.")
    itl_ms: NonNegativeFloat | None = Field(None, description="Time between tokens.")
    jitter_ms: NonNegativeFloat | None = Field(
        None, description="Uniform jitter added to every gap, plus or minus."
    )
    seed: int | None = Field(
        None, description="Seed for jitter; the same seed gives the same schedule."
    )
    tokens_per_second: PositiveFloat | None = Field(
        None, description="Generation speed; another way to give itl_ms (1000 / rate)."
    )
    jitter: JitterSpec | None = Field(
        None, description="Jitter distribution: a number (uniform +-ms) or {distribution, ...}."
    )
    waits: list[WaitSpec] | None = Field(
        None, description="Scripted pauses: [{after_events: 4, ms: 2000}] waits before event 5."
    )

    @model_validator(mode="after")
    def _one_of_each(self) -> "Delivery":
        for first, second in _EXCLUSIVE:
            if getattr(self, first) is not None and getattr(self, second) is not None:
                raise ValueError(f"give either {first} or {second}, not both")
        return self

    @field_validator("chunking", mode="before")
    @classmethod
    def _chunking(cls, value: Any) -> Any:
        if value in ("words", "none"):
            return value
        if isinstance(value, dict):
            if set(value) != {"chars"}:
                raise ValueError("must be 'words', 'none', {chars: N} or a list of strings")
            size = value["chars"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise ValueError("chars must be a positive integer")
            return {"chars": size}
        if isinstance(value, list) and all(isinstance(chunk, str) for chunk in value):
            return list(value)
        raise ValueError("must be 'words', 'none', {chars: N} or a list of strings")

    def merged_over(self, base: "Delivery | None") -> "Delivery":
        """This delivery's explicitly set fields layered over ``base``."""
        if base is None:
            return self
        update = {name: getattr(self, name) for name in self.model_fields_set}
        for pair in _EXCLUSIVE:  # a reply's itl_ms replaces a scenario's tokens_per_second
            for mine, theirs in (pair, pair[::-1]):
                if mine in self.model_fields_set and theirs not in self.model_fields_set:
                    update[theirs] = None
        return base.model_copy(update=update)


AUTO = "auto"


class ToolCallSpec(Strict):
    name: str = Field(
        min_length=1,
        description="The tool to call; 'auto': the tool the request forces, else the first "
        "offered one not yet called (else the first offered).",
    )
    arguments: Annotated[
        Any,
        WithJsonSchema(
            {
                "description": "An object, a string holding a JSON object, or 'auto': "
                "generated from the offered tool's JSON Schema, valid against it.",
                "anyOf": [
                    {"type": "object"},
                    {"const": AUTO},
                    {"type": "string"},
                    {"type": "null"},
                ],
            }
        ),
    ] = None
    id: str | None = Field(
        None, description="Tool call id; generated in the API's shape if absent."
    )
    fragments: list[str] | None = Field(
        None, description="Explicit argument fragments; they must concatenate to the arguments."
    )

    @field_validator("arguments", mode="before")
    @classmethod
    def _arguments(cls, value: Any) -> Any:
        if value is None or isinstance(value, dict) or value == AUTO:
            return value
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except (ValueError, RecursionError):
                raise ValueError("must be an object or a JSON string") from None
            if not isinstance(parsed, dict):
                raise ValueError("must be an object or a JSON string holding an object")
            return value
        raise ValueError("must be an object or a JSON string")

    @model_validator(mode="after")
    def _fragments_match(self) -> "ToolCallSpec":
        if self.fragments is not None and self.arguments == AUTO:
            raise ValueError("fragments cannot be given with 'arguments: auto'")
        if self.fragments is not None:
            joined = "".join(self.fragments)
            if self.arguments is None:
                try:
                    parsed = json.loads(joined)
                except (ValueError, RecursionError):
                    raise ValueError("fragments must concatenate to a JSON object") from None
                if not isinstance(parsed, dict):
                    raise ValueError("fragments must concatenate to a JSON object")
            elif isinstance(self.arguments, str) and joined != self.arguments:
                raise ValueError("fragments must concatenate exactly to the arguments string")
            elif isinstance(self.arguments, dict) and _loads_or_none(joined) != self.arguments:
                raise ValueError("fragments must concatenate to JSON equal to the arguments")
        return self

    def arguments_text(self) -> str:
        """The arguments exactly as they go on the wire."""
        if self.fragments is not None:
            return "".join(self.fragments)
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments or {}, ensure_ascii=False)


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # deep nesting is no JSON a reply can send
        return None


class UsageSpec(Strict):
    """Token counts to report instead of the computed ones."""

    input_tokens: NonNegativeInt | None = None
    output_tokens: NonNegativeInt | None = None
    reasoning_tokens: NonNegativeInt | None = None
    cached_tokens: NonNegativeInt | None = None


TextOrChunks = str | list[str] | None


class JsonContent(Strict):
    """Content that is JSON valid for the request's structured-output schema."""

    json_: Literal["auto"] = Field(alias="json")


ContentSpec = str | list[str] | JsonContent | None


class ReplySpec(Strict):
    """What the model says; API-neutral."""

    content: ContentSpec = Field(
        None,
        description="Reply text (may use {{ variable }} templates); a list gives the exact "
        "chunks; {json: auto} answers JSON valid for the request's schema.",
    )
    reasoning: TextOrChunks = Field(
        None, description="Reasoning text, streamed before the content; a list gives the chunks."
    )
    tool_calls: list[ToolCallSpec] = Field(default_factory=list)
    refusal: str | None = None
    finish_reason: FinishReason | None = Field(
        None, description="Derived when absent: length, tool_calls, refusal or stop."
    )
    stop_sequence: str | None = Field(
        None, description="The stop sequence that ended the reply (finish reason stop_sequence)."
    )
    usage: UsageSpec | None = None
    model: str | None = Field(
        None, description="Model name to report instead of the requested one."
    )
    delivery: Delivery | None = None
    error: ErrorSpec | None = Field(
        None, description="Answer with this HTTP error instead (a preset name or a mapping)."
    )
    fault: OneOrList[FaultSpec] | None = Field(
        None, description="Stream faults: one mapping or a list (see docs/faults.md)."
    )
    framing: FramingSpec | None = Field(None, description="Unusual but legal SSE bytes.")
    chaos: ChaosSpec | None = Field(None, description="Random faults, reproducible by seed.")

    @model_validator(mode="after")
    def _faults_fit(self) -> "ReplySpec":
        if self.error is not None and (self.fault or self.chaos is not None):
            raise ValueError("an error reply has no stream: drop fault/chaos or the error")
        check_faults(self.fault, has_tool_calls=bool(self.tool_calls))
        return self

    @field_validator("content", "reasoning", mode="before")
    @classmethod
    def _text_or_chunks(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        if isinstance(value, str):
            return template.check(value)
        if isinstance(value, list) and all(isinstance(chunk, str) for chunk in value):
            for chunk in value:
                template.check(chunk)
            return value
        if info.field_name == "content" and isinstance(value, dict):
            if value != {"json": AUTO}:
                raise ValueError("the JSON form is {json: auto}")
            return JsonContent(json=AUTO)
        if info.field_name == "content":
            raise ValueError("must be a string, a list of strings or {json: auto}")
        raise ValueError("must be a string or a list of strings")

    @field_validator("refusal")
    @classmethod
    def _refusal(cls, value: str | None) -> str | None:
        return value if value is None else template.check(value)


class Scenario(Strict):
    _defined_at: str | None = PrivateAttr(default=None)
    """``file:line`` of the scenario's name, set by the loader (for listings)."""
    name: str = Field(min_length=1)
    description: str | None = None
    default: bool = Field(False, description="Serve this when no other scenario matches.")
    match: Match = Field(default_factory=Match)
    delivery: Delivery | None = Field(None, description="Delivery defaults for every reply.")
    reply: ReplySpec | None = None
    replies: list[ReplySpec] | None = Field(
        None, description="Replies served on successive matching calls.", min_length=1
    )
    then: Literal["repeat_last", "cycle"] = Field(
        "repeat_last", description="What follows the last of 'replies'."
    )
    framing: FramingSpec | None = Field(None, description="Framing for every reply.")
    chaos: ChaosSpec | None = Field(
        None, description="Chaos for every reply that scripts no error or fault of its own."
    )

    @property
    def defined_at(self) -> str | None:
        return self._defined_at

    @model_validator(mode="after")
    def _one_reply_form(self) -> "Scenario":
        if (self.reply is None) == (self.replies is None):
            raise ValueError("give exactly one of 'reply' or 'replies'")
        for index, reply in enumerate(self.reply_list):
            delivery = (
                reply.delivery.merged_over(self.delivery) if reply.delivery else self.delivery
            )
            chunks = delivery.chunking if delivery else None
            if isinstance(chunks, list) and isinstance(reply.content, JsonContent):
                where = "reply" if self.reply is not None else f"replies[{index}]"
                raise ValueError(f"{where}: a chunking list cannot split content {{json: auto}}")
            if isinstance(chunks, list) and reply.content is not None:
                text = reply.content if isinstance(reply.content, str) else "".join(reply.content)
                if "".join(chunks) != text:
                    where = "reply" if self.reply is not None else f"replies[{index}]"
                    raise ValueError(
                        f"{where}: delivery.chunking list must concatenate exactly to content"
                    )
        return self

    @property
    def reply_list(self) -> list[ReplySpec]:
        return [self.reply] if self.reply is not None else list(self.replies or [])

    @cached_property
    def deliveries(self) -> tuple[Delivery, ...]:
        """Each reply's delivery over the scenario's defaults, merged once.

        A cached property, not a private attribute: it is read on every request, and a
        pydantic private attribute is found only after a failed lookup and ``__getattr__``.
        """
        default = self.delivery or Delivery()
        return tuple(
            default if spec.delivery is None else spec.delivery.merged_over(default)
            for spec in self.reply_list
        )

    def delivery_for(self, index: int) -> Delivery:
        """Reply ``index``'s delivery over the scenario's defaults."""
        return self.deliveries[index]

    @cached_property
    def timings(self) -> dict[float, tuple[Timing, ...]]:
        """Each reply's timing, by time scale (a server uses one): made once, not per
        request. A ``Timing`` is immutable; each stream takes its own ``delays()``."""
        return {}

    def timing_for(self, index: int, time_scale: float) -> Timing:
        found = self.timings.get(time_scale)
        if found is None:
            found = tuple(Timing.from_delivery(d, time_scale) for d in self.deliveries)
            self.timings[time_scale] = found
        return found[index]

    def reply_at(self, position: int) -> tuple[int, ReplySpec]:
        """The reply for the ``position``-th matching call (0-based) and its index."""
        replies = self.reply_list
        if position < len(replies):
            index = position
        elif self.then == "cycle":
            index = position % len(replies)
        else:
            index = len(replies) - 1
        return index, replies[index]


def file_schema() -> dict[str, Any]:
    """The JSON Schema of a document of a scenario file: one scenario, a list of them, or
    nothing; a YAML file of several documents (``---``) is checked document by document."""
    return document_schema(
        Scenario,
        "Understudy scenario file",
        "One scenario, a list of scenarios, or an empty document. A YAML file of several "
        "documents (separated by ---) holds one of these in each.",
        many=True,
        empty=True,
    )


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of one scenario."""
    return model_schema(Scenario, "Understudy scenario")
