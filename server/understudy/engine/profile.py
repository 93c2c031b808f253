"""An engine profile: how many streams run, how fast it prefills and decodes.

Every field is optional. Decoding slows linearly with the number of running streams,
from ``decode_tokens_per_second`` for one stream to ``decode_tokens_per_second_at_max``
per stream when all ``max_running`` slots decode at once: the shape of a batched
inference server, whose step time grows with the batch.
"""

from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from understudy.format.files import document_schema, load_model_file, profile_path
from understudy.format.models import Strict


class EngineProfile(Strict):
    """A simulated inference server."""

    max_running: PositiveInt = Field(8, description="Streams decoding at once.")
    max_waiting: int = Field(
        64, ge=0, description="Requests queued for a slot; beyond it they are refused."
    )
    prefill_tokens_per_second: PositiveFloat = Field(
        4000, description="Prompt tokens read per second: TTFT grows with the prompt."
    )
    decode_tokens_per_second: PositiveFloat = Field(
        60, description="Output tokens per second for a stream decoding alone."
    )
    decode_tokens_per_second_at_max: PositiveFloat | None = Field(
        None,
        description="Output tokens per second per stream with every slot busy; "
        "default: a third of decode_tokens_per_second.",
    )
    overload: Literal["rate_limit", "overloaded"] = Field(
        "overloaded",
        description="The preset error for a full queue: 'overloaded' (OpenAI 503, "
        "Anthropic 529) or 'rate_limit' (429 on both).",
    )
    retry_after: PositiveFloat = Field(1.0, description="Seconds, sent as retry-after.")
    model_name: str = Field(
        "understudy", description="The model_name label of the vLLM-style metrics."
    )

    @model_validator(mode="after")
    def _slower_when_full(self) -> "EngineProfile":
        at_max = self.decode_tokens_per_second_at_max
        if at_max is not None and at_max > self.decode_tokens_per_second:
            raise ValueError(
                "decode_tokens_per_second_at_max must not exceed decode_tokens_per_second"
            )
        return self

    def decode_rate(self, running: int) -> float:
        """Tokens per second per stream when ``running`` streams decode at once."""
        alone = self.decode_tokens_per_second
        full = self.decode_tokens_per_second_at_max or alone / 3
        if self.max_running <= 1 or running <= 1:
            return alone
        share = (min(running, self.max_running) - 1) / (self.max_running - 1)
        return alone + (full - alone) * share


PROFILES: dict[str, dict[str, object]] = {
    "small": {
        "max_running": 32,
        "max_waiting": 256,
        "prefill_tokens_per_second": 20000,
        "decode_tokens_per_second": 150,
        "decode_tokens_per_second_at_max": 60,
        "model_name": "small",
    },
    "large": {
        "max_running": 4,
        "max_waiting": 16,
        "prefill_tokens_per_second": 1500,
        "decode_tokens_per_second": 25,
        "decode_tokens_per_second_at_max": 10,
        "model_name": "large",
    },
}
"""Bundled profiles: a small fast model on a big batch, a large slow one on a small batch."""


def load_profile(value: str | None) -> EngineProfile | None:
    """A profile: a bundled name, or a YAML file holding its fields (or an ``engine:``
    mapping). Raises ``FormatError`` naming the file, line and field at fault."""
    if not value:
        return None
    if value in PROFILES:
        return EngineProfile.model_validate(PROFILES[value])
    return load_model_file(
        profile_path(value, "engine", PROFILES), EngineProfile, "engine profile", "engine"
    )


def profile_schema() -> dict[str, Any]:
    """The JSON Schema of an engine profile file."""
    return document_schema(
        EngineProfile,
        "Understudy engine profile",
        "The engine's fields, or an 'engine:' mapping holding them; every field is optional.",
        key="engine",
        empty=True,
    )
