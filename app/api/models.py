"""Pydantic models of every response and event, with the protocol's field names.

Unknown fields a server adds are kept (``model_config extra="allow"``) and readable
as attributes or through ``model_extra``; they never make parsing fail. Fields the
protocol marks optional (``?``) default to ``None``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.streams import registry
from app.streams.base import EntryModel, StatsModel

__all__ = [
    "ENTRIES_BY_TYPE",
    "AppendResult",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ConnectedEvent",
    "DataUpdatedEvent",
    "DeleteResult",
    "ErrorEvent",
    "EventStats",
    "FlashList",
    "FlashQuery",
    "FlashReadyEvent",
    "FlashRegistration",
    "GenerateChunk",
    "GenerateResult",
    "Health",
    "IotStats",
    "MarkPrefixResult",
    "Message",
    "MessageStreamEvent",
    "ModelInfo",
    "ModelList",
    "OhlcvStats",
    "PongEvent",
    "PushAckEvent",
    "PushResult",
    "SessionEvent",
    "SessionInfo",
    "SessionList",
    "SessionState",
    "SessionSummary",
    "SpatialStats",
    "Stats",
    "StreamStatus",
    "TextCompletion",
    "ToolCall",
    "UnflashResult",
    "UnknownEvent",
    "VitalsStats",
]

Number = int | float


class APIModel(BaseModel):
    """Base of every model: extra fields kept, instances immutable-by-convention."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- server level -------------------------------------------------------------------


class Health(APIModel):
    """``GET /v1/health``. The local server adds uptime/model/sessions/version."""

    status: str
    uptime: float | None = None
    model: str | None = None
    sessions: int | None = None
    version: str | None = None


class ModelInfo(APIModel):
    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None


class ModelList(APIModel):
    """``GET /v1/models``."""

    object: str = "list"
    data: list[ModelInfo]


class FunctionCall(APIModel):
    name: str
    arguments: str = Field(description="JSON-encoded arguments, as the model wrote them")


class ToolCall(APIModel):
    id: str | None = None
    type: str = "function"
    function: FunctionCall


class ChatMessage(APIModel):
    role: str
    content: str | None = None
    tool_calls: list[ToolCall] | None = None


class ChatChoice(APIModel):
    index: int
    message: ChatMessage
    finish_reason: str | None = None


class Usage(APIModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class ChatCompletion(APIModel):
    """OpenAI ``chat.completion`` from ``POST /v1/chat/completions``."""

    id: str
    object: str = "chat.completion"
    created: int | None = None
    model: str | None = None
    choices: list[ChatChoice]
    usage: Usage | None = None


class ChatDelta(APIModel):
    role: str | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChunkChoice(APIModel):
    index: int = 0
    delta: ChatDelta
    finish_reason: str | None = None


class ChatCompletionChunk(APIModel):
    """One ``chat.completion.chunk`` SSE frame."""

    id: str | None = None
    object: str = "chat.completion.chunk"
    created: int | None = None
    model: str | None = None
    choices: list[ChunkChoice]


class TextChoice(APIModel):
    text: str
    index: int = 0
    finish_reason: str | None = None


class TextCompletion(APIModel):
    """OpenAI ``text_completion`` from ``POST /v1/completions``."""

    id: str
    object: str = "text_completion"
    created: int | None = None
    model: str | None = None
    choices: list[TextChoice]
    usage: Usage | None = None


class ContentBlock(APIModel):
    """``{type: "text", text}`` or ``{type: "tool_use", id, name, input}``."""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None


class MessageUsage(APIModel):
    input_tokens: int | None = None
    output_tokens: int | None = None


class Message(APIModel):
    """Anthropic ``message`` from ``POST /v1/messages``."""

    id: str
    type: str = "message"
    role: str = "assistant"
    content: list[ContentBlock]
    model: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: MessageUsage | None = None


class MessageDelta(APIModel):
    """``text_delta`` / ``input_json_delta`` / ``message_delta`` payloads."""

    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageStreamEvent(APIModel):
    """One event of a streamed ``/v1/messages`` answer; ``type`` is the event name."""

    type: str
    index: int | None = None
    message: dict[str, Any] | None = None
    content_block: ContentBlock | None = None
    delta: MessageDelta | None = None
    usage: MessageUsage | None = None


# --- sessions -----------------------------------------------------------------------


class SessionInfo(APIModel):
    """``POST /v1/sessions/init`` answer (what ``sessions.create`` returns)."""

    session_id: str
    type: str
    n_tokens: int
    context: int
    window_size: int | None = None
    flash_queries: int | list[Any] | None = None
    pos_max: int
    prefix_end: int | None = Field(
        default=None, description="filled by the client when create(mark_prefix=True)"
    )


class AppendResult(APIModel):
    n_tokens_added: int
    total_tokens: int
    pos_max: int


class MarkPrefixResult(APIModel):
    prefix_end: int
    message: str | None = None


class DeleteResult(APIModel):
    """``DELETE`` answers; the protocol only promises a 200, so every field is optional."""

    success: bool | None = None


class SessionSummary(APIModel):
    session_id: str
    n_tokens: int
    context: int
    prefix_end: int | None = None
    last_inject_us: Number | None = None
    cache_usage: float
    created_at: float
    last_used_at: float
    in_use: bool


class SessionList(APIModel):
    sessions: list[SessionSummary]
    count: int
    max_sessions: int | None = None


class DataRegion(APIModel):
    start: int
    end: int
    window_size: int | None = None


class SessionState(SessionSummary):
    """``GET /v1/sessions/{id}/state``."""

    type: str
    pos_min: int
    pos_max: int
    pos_next: int
    data_region: DataRegion
    data_count: int
    context_text: str


# --- streaming ingest ---------------------------------------------------------------


class PushResult(APIModel):
    pushed: int
    dropped: int
    queue_size: int
    queue_capacity: int
    total_enqueued: int
    total_dropped: int


class StreamingInfo(APIModel):
    initialized: bool
    running: bool
    # The protocol says a boolean (true once ingest failed); older servers sent the reason.
    error: bool | str | None = None
    queue_size: int
    queue_capacity: int
    window_size: int | None = None
    process_interval_us: Number | None = None


class StreamStatistics(APIModel):
    total_enqueued: int
    total_dropped: int
    batches_processed: int
    items_processed: int
    total_process_time_us: Number
    avg_process_time_us: Number


class StreamData(APIModel):
    initialized: bool
    data_count: int
    total_data_tokens: int
    pos_next: int


class StreamStatus(APIModel):
    """``GET /v1/sessions/{id}/stream/status``."""

    type: str
    streaming: StreamingInfo
    statistics: StreamStatistics
    data: StreamData


# Statistics and entries are defined per stream type in app.streams (one module per type);
# the client validates with those models, so no second list of types or fields lives here.
Stats = StatsModel
OhlcvStats = registry.get("ohlcv").stats_model
IotStats = registry.get("iot").stats_model
SpatialStats = registry.get("spatial").stats_model
EventStats = registry.get("event").stats_model
VitalsStats = registry.get("vitals").stats_model
STATS_BY_TYPE: dict[str, type[StatsModel]] = {t.name: t.stats_model for t in registry.all_types()}
ENTRIES_BY_TYPE: dict[str, type[EntryModel]] = {
    t.name: t.entry_model for t in registry.all_types()
}


# --- flash queries ------------------------------------------------------------------


class FlashQuery(APIModel):
    id: int
    query: str
    max_tokens: int
    n_tokens: int
    has_answer: bool
    value: str = ""
    data_version: int | None = None
    confidence: float | None = None
    evaluated_at: float | None = None


class FlashRegistration(APIModel):
    """``POST /v1/sessions/{id}/flash`` answer."""

    id: int
    query: str
    max_tokens: int
    n_tokens: int
    total_flash_queries: int


class FlashList(APIModel):
    flash_queries: list[FlashQuery]
    count: int
    current_data_version: int


class UnflashResult(APIModel):
    success: bool
    remaining: int


# --- generation ---------------------------------------------------------------------


class GenerateResult(APIModel):
    """``POST /v1/sessions/{id}/generate`` answer (what ``sessions.query`` returns)."""

    text: str
    n_tokens: int
    total_tokens: int | None = None
    pos_max: int | None = None
    finish_reason: str | None = None
    tool_calls: list[ToolCall] | None = None
    flash: bool | None = None
    flash_id: int | None = None
    data_version: int | None = None
    confidence: float | None = None
    speculative: bool | None = None
    logit_gap: float | None = None


class GenerateChunk(APIModel):
    """One streamed generate frame: a token (``done=False``) or the final summary."""

    done: bool = False
    token: str | None = None
    pos: int | None = None
    tool_call: bool | None = None
    text: str | None = None
    n_tokens: int | None = None
    finish_reason: str | None = None
    tool_calls: list[ToolCall] | None = None


# --- session events (SSE and WebSocket) ---------------------------------------------


class ConnectedEvent(APIModel):
    """First event of every SSE subscription / WebSocket connection.

    ``flash_queries`` is a count or the list of registered queries (with their
    cached answers), depending on the server; both are accepted.
    """

    type: Literal["connected"] = "connected"
    session_id: str | None = None
    data_version: int | None = None
    streaming: Any = None
    flash_queries: int | list[FlashQuery] | list[Any] | None = Field(
        default=None, union_mode="left_to_right"
    )


class DataUpdatedEvent(APIModel):
    type: Literal["data_updated"] = "data_updated"
    data_version: int
    data_count: int | None = None
    pos_next: int | None = None
    tokens: int | None = None  # generation 2
    pending: int | None = None  # generation 2: pushed, not yet ingested


class FlashReadyEvent(APIModel):
    type: Literal["flash_ready"] = "flash_ready"
    id: int
    query: str
    value: str
    data_version: int | None = None
    confidence: float | None = None
    evaluated_at: float | None = None


class PushAckEvent(APIModel):
    type: Literal["push_ack"] = "push_ack"
    pushed: int
    dropped: int = 0
    queue_size: int | None = None
    # Generation 2: `dropped` are the oldest *unprocessed* entries (maybe earlier batches').
    pending: int | None = None
    total_pushed: int | None = None
    total_dropped: int | None = None
    data_version: int | None = None


class ErrorEvent(APIModel):
    """A server ``error`` frame, or (from a reconnecting stream) a frame it could not parse."""

    type: Literal["error"] = "error"
    message: str
    code: str | int | None = None


class PongEvent(APIModel):
    type: Literal["pong"] = "pong"


class UnknownEvent(APIModel):
    """A well-formed event of a type this client does not know (kept, not fatal)."""

    type: str


SessionEvent = (
    ConnectedEvent
    | DataUpdatedEvent
    | FlashReadyEvent
    | PushAckEvent
    | ErrorEvent
    | PongEvent
    | UnknownEvent
)

EVENTS_BY_TYPE: dict[str, type[APIModel]] = {
    "connected": ConnectedEvent,
    "data_updated": DataUpdatedEvent,
    "flash_ready": FlashReadyEvent,
    "push_ack": PushAckEvent,
    "error": ErrorEvent,
    "pong": PongEvent,
}
