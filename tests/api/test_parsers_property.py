"""Property tests: random bytes/JSON into the SSE and WebSocket frame parsers.

Whatever arrives, the parsers must not crash: they either produce typed events
or raise a LayerScaleError (ProtocolError), never a KeyError/ValueError/
ValidationError/UnicodeDecodeError traceback. The SSE decoder must also give
the same events however the bytes are split into chunks.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.errors import LayerScaleError, ProtocolError
from app.api.frames import parse_ws_frame, to_event
from app.api.models import EVENTS_BY_TYPE
from app.api.sse import SSEDecoder

PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=20,
)
event_types = st.sampled_from([*EVENTS_BY_TYPE, "", "other", 3])
field_names = st.sampled_from(
    [
        "data_version",
        "data_count",
        "pos_next",
        "id",
        "query",
        "value",
        "confidence",
        "evaluated_at",
        "pushed",
        "dropped",
        "queue_size",
        "message",
        "code",
        "session_id",
        "streaming",
        "flash_queries",
        "data",
        "type",
    ]
)
event_like = st.builds(
    lambda kind, fields, nest: {"type": kind, "data": fields} if nest else {"type": kind, **fields},
    event_types,
    st.dictionaries(field_names, json_values, max_size=6),
    st.booleans(),
)
sse_fragments = st.lists(
    st.sampled_from(
        [
            b"data: ",
            b"data:",
            b"event: ",
            b"id: ",
            b"retry: ",
            b": ka",
            b"\n",
            b"\r",
            b"\r\n",
            b"{",
            b"}",
            b'"type"',
            b":",
            b"connected",
            b"\xff",
            b"\xef\xbb\xbf",
            b"[DONE]",
            b"\x00",
        ]
    )
    | st.binary(max_size=12),
    max_size=40,
).map(b"".join)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def _decode_all(pieces: list[bytes]) -> list[Any]:
    decoder = SSEDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)]
    decoder.close()
    return events


@PROFILE
@given(raw=sse_fragments | st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_sse_decoder_never_crashes_and_ignores_chunking(raw: bytes, cuts: list[int]) -> None:
    whole = _decode_all([raw])
    assert _decode_all(_split(raw, cuts)) == whole
    for event in whole:
        assert isinstance(event.data, str) and isinstance(event.event, str)
        try:
            payload = event.json()
            to_event(payload, event_name=None if event.event == "message" else event.event)
        except LayerScaleError as exc:
            assert isinstance(exc, ProtocolError)


@PROFILE
@given(payload=event_like)
def test_sse_event_payloads_parse_or_fail_cleanly(payload: dict[str, Any]) -> None:
    raw = ("data: " + json.dumps(payload).replace("\n", "\ndata: ") + "\n\n").encode()
    events = _decode_all([raw])
    assert len(events) == 1
    try:
        event = to_event(events[0].json())
    except ProtocolError:
        return
    assert event.type == payload["type"]


@PROFILE
@given(frame=st.binary(max_size=200) | st.text(max_size=200))
def test_ws_frames_random_bytes(frame: bytes | str) -> None:
    try:
        event = parse_ws_frame(frame)
    except LayerScaleError as exc:
        assert isinstance(exc, ProtocolError)
    else:
        assert isinstance(event.type, str)


@PROFILE
@given(payload=event_like | json_values)
def test_ws_frames_random_json(payload: Any) -> None:
    try:
        event = parse_ws_frame(json.dumps(payload))
    except LayerScaleError as exc:
        assert isinstance(exc, ProtocolError)
        assert str(exc)  # a message a person can read
    else:
        assert isinstance(payload, dict) and event.type == payload["type"]
        known = EVENTS_BY_TYPE.get(event.type)
        assert known is None or isinstance(event, known)
