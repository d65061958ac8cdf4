"""Alerts: once per qualifying bar close, never on the forming bar, never for history;
the webhook is received by a local HTTP server this test starts (loopback)."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from app.core.alerts import AlertEngine, AlertRule
from app.core.signals import SignalLog
from app.core.webhook import WebhookSender, check_url
from app.streams.candles import Candle, CandleStore

T0 = 1_709_546_400.0
P60, P90 = math.log(1.5), math.log(9.0)


def candle(i: int, close: float = 100.0) -> Candle:
    return Candle(T0 + 60 * i, close, close + 1, close - 1, close, 10.0)


def answer(log: SignalLog, version: int, bar: int, value: str, gap: float) -> None:
    log.add(1, value, gap, version, T0 + 60 * bar, True, received_at=0.0)


def test_rules_fire_once_per_qualifying_bar_close_and_never_on_the_forming_bar() -> None:
    store, log = CandleStore(), SignalLog()
    engine = AlertEngine(lambda qid: "Is the trend bullish?")
    flip = engine.add(AlertRule(1, "flip"))
    cross = engine.add(AlertRule(1, "cross", level=0.8, direction="up"))
    says = engine.add(AlertRule(1, "answer", answer="yes", level=0.85))
    got: list[tuple[int, int]] = []
    engine.sinks.append(lambda a: got.append((a.rule.id, int((a.bar_ts - T0) // 60))))
    store.append(candle(0))
    assert engine.evaluate(store, log) == []  # bar 0 is still forming
    answer(log, 1, 0, "Yes", P60)
    store.append(candle(1))  # bar 0 closes: first answer, nothing to compare with
    engine.evaluate(store, log)
    assert got == []
    answer(log, 2, 1, "Yes", P90)  # p 0.6 -> 0.9 about bar 1: crosses 0.8 and says yes
    engine.evaluate(store, log)
    assert got == []  # bar 1 has not closed yet
    store.append(candle(1, 101.0))  # the forming bar updated: still not closed
    engine.evaluate(store, log)
    assert got == []
    store.append(candle(2))  # bar 1 closes
    engine.evaluate(store, log)
    engine.evaluate(store, log)  # evaluated again: nothing new
    assert sorted(got) == [(cross.id, 1), (says.id, 1)]
    got.clear()
    answer(log, 3, 2, "No", P90)
    answer(log, 4, 2, "Yes", P90)  # flipped and back within bar 2: no flip at its close
    answer(log, 5, 3, "No", P60)  # about bar 3: waits for bar 3's close
    store.append(candle(3))
    engine.evaluate(store, log)
    assert sorted(got) == [(says.id, 2)]
    got.clear()
    # Three bars close at once (a fast replay): each is evaluated once, in order.
    for i in (4, 5, 6):
        store.append(candle(i))
    answer(log, 6, 4, "Yes", P90)
    engine.evaluate(store, log)
    assert got == [(flip.id, 3), (flip.id, 4), (cross.id, 4), (says.id, 4)]
    assert [a.seq for a in engine.log] == [1, 2, 3, 4, 5, 6, 7]
    assert engine.log[3].message == "Is the trend bullish?: answer flips: Yes → No"


def test_bars_closed_before_the_engine_started_are_history() -> None:
    store, log = CandleStore(), SignalLog()
    for i in range(5):
        store.append(candle(i))
        answer(log, i + 1, i, "Yes" if i % 2 else "No", P90)
    engine = AlertEngine()
    engine.add(AlertRule(1, "flip"))
    assert engine.evaluate(store, log) == []  # bars 0-3 closed before: their flips are past
    store.append(candle(5))  # bar 4 (forming when the engine started) closes: Yes -> No
    assert [a.message for a in engine.evaluate(store, log)] == ["query 1: answer flips: Yes → No"]
    answer(log, 6, 5, "No", P90)
    store.append(candle(6))
    assert engine.evaluate(store, log) == []


def test_bad_rules_and_urls_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="unknown alert kind"):
        AlertRule(1, "wobble")
    with pytest.raises(ValueError, match=r"0\.5 to 1"):
        AlertRule(1, "cross", level=0.3)
    with pytest.raises(ValueError, match="http"):
        check_url("ftp://example.org/hook")
    with pytest.raises(ValueError, match="no host"):
        check_url("http:///hook")


class _Hook(BaseHTTPRequestHandler):
    fail_first = 0
    bodies: ClassVar[list[dict]] = []
    lock = threading.Lock()
    arrived = threading.Condition(lock)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            cls = type(self)
            if cls.fail_first > 0:
                cls.fail_first -= 1
                status = 503
            else:
                cls.bodies.append(json.loads(raw))
                status = 200
            self.arrived.notify_all()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def _fire_one() -> tuple[AlertEngine, CandleStore, SignalLog]:
    store, log = CandleStore(), SignalLog()
    engine = AlertEngine(lambda qid: "Is the trend bullish?")
    engine.add(AlertRule(1, "flip"))
    store.append(candle(0))
    engine.evaluate(store, log)
    answer(log, 1, 0, "Yes", P90)
    store.append(candle(1))
    engine.evaluate(store, log)
    answer(log, 2, 1, "No", P60)
    return engine, store, log


def test_webhook_is_received_by_a_local_server_after_retries() -> None:
    _Hook.fail_first, _Hook.bodies = 2, []  # two 503s first: retried with backoff
    server, url = _serve(_Hook)

    async def go() -> None:
        engine, store, log = _fire_one()
        sender = WebhookSender(url, "sess-1", base_delay=0.05)
        engine.sinks.append(sender.submit)
        store.append(candle(2, 99.0))
        (alert,) = engine.evaluate(store, log)
        await sender.drain()
        await sender.aclose()
        assert alert.deliveries["webhook"] == "delivered to 127.0.0.1 (HTTP 200, try 3)"

    try:
        asyncio.run(go())
    finally:
        server.shutdown()
    (body,) = _Hook.bodies
    assert body["type"] == "layerscale.alert" and body["session_id"] == "sess-1"
    assert body["rule"]["kind"] == "flip" and body["query"] == "Is the trend bullish?"
    assert body["answer"]["value"] == "No" and body["previous"]["value"] == "Yes"
    assert body["answer"]["p"] == pytest.approx(0.6)
    assert body["bar"] == {"timestamp": T0 + 60, "close": 100.0}


def test_webhook_failures_are_shown_after_the_last_try() -> None:
    _Hook.fail_first, _Hook.bodies = 99, []
    server, url = _serve(_Hook)

    async def go() -> str:
        engine, store, log = _fire_one()
        sender = WebhookSender(url, attempts=3, base_delay=0.02)
        engine.sinks.append(sender.submit)
        store.append(candle(2))
        (alert,) = engine.evaluate(store, log)
        await sender.drain()
        await sender.aclose()
        return alert.deliveries["webhook"]

    try:
        status = asyncio.run(go())
    finally:
        server.shutdown()
    assert status == "failed: HTTP 503 (127.0.0.1, 3 tries)"
    assert _Hook.bodies == []
    # Nobody listening at all: a connection error, reported the same way.
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    port = closed.server_address[1]
    closed.server_close()

    async def refused() -> str:
        engine, store, log = _fire_one()
        sender = WebhookSender(f"http://127.0.0.1:{port}/", attempts=2, base_delay=0.02)
        engine.sinks.append(sender.submit)
        store.append(candle(2))
        (alert,) = engine.evaluate(store, log)
        await sender.drain()
        await sender.aclose()
        return alert.deliveries["webhook"]

    assert asyncio.run(refused()).startswith("failed: ConnectError")
