"""Generation 2 request bodies. Top-level fields the protocol does not list are refused with
a 400 naming them ("Unsupported parameter"); nested objects may carry extra keys."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import APIError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"


class TemplateKwargs(_Strict):
    date_string: str | None = None
    enable_thinking: bool | None = None
    add_generation_prompt: Literal[True] | None = None
    tools_in_user_message: Literal[True] | None = None


class CreateSession(_Strict):
    id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN)
    pre_decode: bool = False
    window: int | None = Field(default=None, ge=1)


class Push(_Strict):
    data: str | list[str]

    @field_validator("data")
    @classmethod
    def _not_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("must be a string or a non-empty array of strings")
        return value


class Flash(_Strict):
    query: str = Field(min_length=1)
    max_tokens: int | None = None


class FunctionDef(_Loose):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ChatTool(_Loose):
    type: Literal["function"] = "function"
    function: FunctionDef


class ChatMessage(_Loose):
    role: Literal["system", "user", "assistant", "tool", "ipython"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None


class StreamOptions(_Strict):
    include_usage: bool | None = None


class Sampling(_Strict):
    """Fields every generating route shares. Sampling is greedy here (README): temperature,
    top_p and seed are accepted and change nothing; ignore_eos cannot be honoured."""

    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    ignore_eos: bool = False
    stop: str | list[str] | None = None
    stream: bool = False
    reasoning_effort: Effort | None = None
    chat_template_kwargs: TemplateKwargs | None = None


class ChatRequest(Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream_options: StreamOptions | None = None
    tools: list[ChatTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool = True
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    include_reasoning: bool = True
    separate_reasoning: bool = True
    stream_reasoning: bool = True
    # Refused with a pointer to the header (the field is read only to say so).
    session_id: Any = None


class GenerateRequest(Sampling):
    prompt: str = Field(min_length=1)
    fast_answer: list[str] = Field(default_factory=list)
    gap_threshold: float = Field(default=2.0, ge=0)


class AnthropicTool(_Loose):
    name: str = Field(min_length=1)
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class AnthropicMessage(_Loose):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class MessagesRequest(_Strict):
    messages: list[AnthropicMessage] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: str | list[dict[str, Any]] | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    ignore_eos: bool = False
    stop_sequences: list[str] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream: bool = False
    session_id: Any = None
    top_k: Any = None


class CountTokensRequest(MessagesRequest):
    max_tokens: int = 1  # type: ignore[assignment]  # optional here, never read


def stop_list(stop: str | list[str] | None, param: str = "stop") -> list[str]:
    items = [] if stop is None else [stop] if isinstance(stop, str) else list(stop)
    if len(items) > 4:
        raise APIError(400, f"{param}: at most 4 stop sequences, {len(items)} given",
                       code="invalid_value", param=param)
    for i, item in enumerate(items):
        if len(item.encode("utf-8")) > 64:
            raise APIError(400, f"{param}[{i}] is longer than 64 bytes", code="invalid_value",
                           param=f"{param}[{i}]")
    return [s for s in items if s]
