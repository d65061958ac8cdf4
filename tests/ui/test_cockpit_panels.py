"""The cockpit's session state, ingest and server overview panels against the real bundled
server: after known pushes each shows what the server itself answers, polls only while
visible, and marks the prefix and data region in the decoded context."""

from __future__ import annotations

from typing import Any

from app.api.models import FlashQuery
from app.feeds import SyntheticFeed
from app.ui.main_window import MainWindow
from tests.core.live import TEST_PROMPT, small_spec

FED = 15


def show(w: MainWindow, title: str) -> Any:
    dock = w.cockpit.docks[title]
    dock.show()
    dock.raise_()
    return w.cockpit.panel(title)


def fed_session(w: MainWindow, qtbot: Any, arun: Any) -> Any:
    view = arun(w.create_session(small_spec(flash=("Is the trend bullish?",))))
    view.attach_feed(SyntheticFeed(seed=5, speed=300.0, count=FED), "synthetic")
    qtbot.waitUntil(lambda: len(view.model.store) == FED, timeout=60_000)
    return view


def test_state_and_ingest_panels_show_what_the_server_reports(
        window: MainWindow, qtbot: Any, arun: Any) -> None:
    w = window
    c = w.dashboard.client
    ui = w.cockpit
    view = fed_session(w, qtbot, arun)
    sid = view.model.session_id
    sc = ui.cockpit.for_model(view.model)
    assert sc.state.polls == 0 and sc.stream.polls == 0  # docks hidden: nothing read yet

    # --- session state, once the server has decoded every pushed entry
    arun(c.sessions.wait_processed(sid, FED, timeout=60), timeout=70)
    panel = show(w, "Session state")
    truth = arun(c.sessions.get(sid))

    def matches() -> bool:
        shown = panel.shown()
        return shown["tokens"] == f"{truth.n_tokens:,} / {truth.context:,}" and \
            shown["data count"] == str(truth.data_count)

    qtbot.waitUntil(matches, timeout=30_000)
    shown = panel.shown()
    assert shown["positions"] == (f"pos_min {truth.pos_min} · pos_max {truth.pos_max} · "
                                  f"pos_next {truth.pos_next}")
    assert shown["prefix end"] == str(truth.prefix_end) and truth.prefix_end > 0
    region = truth.data_region
    assert shown["data region"] == f"{region.start} – {region.end}, window 20"
    assert shown["cache"] == f"{truth.n_tokens / truth.context * 100:.1f} %"
    assert shown["type"] == "ohlcv"
    text = panel.viewer.toPlainText()
    assert text == truth.context_text
    prefix, start, end = panel.marks()
    assert TEST_PROMPT in text[:prefix]  # the system prompt is inside the marked prefix
    data = text[start:end].rstrip("\n")
    assert 1 <= truth.data_count <= FED  # the window keeps the newest entries
    assert len(data.splitlines()) == truth.data_count  # one marked line per entry
    assert TEST_PROMPT not in data
    assert len(panel.viewer.extraSelections()) == 2  # prefix and data region tinted
    panel.search.setText("candle")
    assert "found" in panel.matches.text() and not panel.matches.text().startswith("0")
    assert panel.find("candle")

    # --- ingest, from stream/status
    w.cockpit.docks["Session state"].hide()
    ingest = show(w, "Ingest")
    qtbot.waitUntil(lambda: sc.ingest.status is not None
                    and sc.ingest.status.statistics.items_processed == FED, timeout=30_000)
    status = arun(c.sessions.stream_status(sid))
    st = status.statistics
    qtbot.waitUntil(lambda: ingest.shown()["batches"] ==
                    f"{st.batches_processed:,} · {st.items_processed:,} items", timeout=10_000)
    shown = ingest.shown()
    assert f"{status.streaming.queue_size:,} / {status.streaming.queue_capacity:,}" in \
        shown["queue"]
    assert f"{st.total_dropped:,} total" in shown["drops"]
    assert f"average {float(st.avg_process_time_us) / 1e3:.1f} ms" in shown["processing"]
    # The dashboard's own timings of this link: every batch got its data_updated.
    assert sc.times.push_to_update.count >= 1
    assert "p50" in shown["push → data_updated"]
    qtbot.waitUntil(lambda: sc.times.update_to_flash.count >= 1, timeout=90_000)
    qtbot.waitUntil(lambda: "p99" in ingest.shown()["data_updated → flash"], timeout=5_000)
    def plotted() -> int:
        xs = ingest.queue_curve.getData()[0]
        return 0 if xs is None else len(xs)

    qtbot.waitUntil(lambda: plotted() >= 2, timeout=10_000)

    # --- hidden panels poll nothing
    qtbot.waitUntil(lambda: not sc.state.wanted, timeout=5_000)
    before = sc.state.polls
    listings = w.dashboard.sessions.polls
    qtbot.waitUntil(lambda: w.dashboard.sessions.polls >= listings + 5, timeout=20_000)
    assert sc.state.polls <= before + 1  # at most the read in flight when it was hidden
    for title in ("Ingest",):
        w.cockpit.docks[title].hide()
    qtbot.waitUntil(lambda: not sc.stream.wanted, timeout=5_000)


def test_not_offered_is_said_not_shown_as_an_error(
        window: MainWindow, qtbot: Any, arun: Any) -> None:
    """Fault injection: stream/status answers "no such route" as a gen-2 server would."""
    from app.api.errors import NotFoundError

    w = window
    view = arun(w.create_session(small_spec(flash=())))
    sc = w.cockpit.cockpit.for_model(view.model)

    async def no_route() -> Any:
        raise NotFoundError("no such route", status=404,
                            body={"error": {"code": "route_not_found"}})

    sc.stream.fetch = no_route
    ingest = show(w, "Ingest")
    qtbot.waitUntil(lambda: sc.stream.unsupported, timeout=10_000)
    qtbot.waitUntil(lambda: "not offered by this server" in ingest.notice.text(), timeout=5_000)
    assert "error" not in ingest.notice.text().lower()


def test_server_overview_totals_and_table_match_the_listing(
        window: MainWindow, qtbot: Any, arun: Any) -> None:
    w = window
    c = w.dashboard.client
    view = fed_session(w, qtbot, arun)
    sid = view.model.session_id
    panel = show(w, "Server overview")
    overview = w.cockpit.cockpit.server
    qtbot.waitUntil(lambda: sid in overview.lines and overview.lines[sid].queue_capacity > 0,
                    timeout=30_000)
    listing = arun(c.sessions.list())
    status = arun(c.sessions.stream_status(sid))

    def agrees() -> bool:
        rows = w.dashboard.sessions.rows
        return set(rows) == {s.session_id for s in listing.sessions} and all(
            rows[s.session_id].n_tokens == s.n_tokens for s in listing.sessions)

    qtbot.waitUntil(agrees, timeout=15_000)
    total = sum(s.n_tokens for s in listing.sessions)
    qtbot.waitUntil(lambda: panel.shown()["tokens"] == f"{total:,}", timeout=10_000)
    shown = panel.shown()
    qtbot.waitUntil(lambda: panel.shown()["sessions"] ==
                    f"{listing.count} / {listing.max_sessions}", timeout=10_000)
    assert shown["model"] == w.dashboard.server.model and shown["model"]
    assert "ready" in shown["health"]
    assert panel.cell(sid, "tokens") == f"{arun(c.sessions.get(sid)).n_tokens:,}"
    qtbot.waitUntil(lambda: panel.cell(sid, "drops") == f"{status.statistics.total_dropped:,}",
                    timeout=10_000)
    assert panel.cell(sid, "queue").endswith(f"/ {status.streaming.queue_capacity}")
    assert panel.cell(sid, "data v") == f"v{view.model.data_version}"
    # The newest flash answer, as the server has it once it answered the last data.
    def answered() -> FlashQuery | None:
        q = arun(c.sessions.list_flash(sid)).flash_queries[0]
        return q if q.has_answer and q.data_version == view.model.data_version else None

    qtbot.waitUntil(lambda: answered() is not None, timeout=60_000)
    q = answered()
    assert q is not None
    text = " ".join(q.value.split()) or "(empty)"
    qtbot.waitUntil(lambda: panel.cell(sid, "last answer").startswith(text[:20]) and
                    panel.cell(sid, "last answer").endswith(f" · v{q.data_version}"),
                    timeout=10_000)
    # The health strip samples on its own clock: wait for its first "ready" sample.
    qtbot.waitUntil(lambda: any(state == "ready" for _, state in overview.health),
                    timeout=10_000)
    # sortable: by tokens, largest first
    tokens_col = 2
    panel.table.sortByColumn(tokens_col, __import__("PySide6.QtCore").QtCore.Qt.SortOrder
                             .DescendingOrder)
    proxy = panel.proxy
    values = [int(str(proxy.index(r, tokens_col).data()).replace(",", ""))
              for r in range(proxy.rowCount())]
    assert values == sorted(values, reverse=True) and len(values) == listing.count
    # sparkline data: the session's tokens over time
    row = panel.model.ids.index(sid)
    from app.ui.cockpit.graphs import SPARK_ROLE
    from app.ui.cockpit.server_panel import SPARK_TOKENS

    qtbot.waitUntil(lambda: len(panel.model.index(row, SPARK_TOKENS).data(SPARK_ROLE) or [])
                    >= 2, timeout=15_000)


def test_session_state_on_generation_2_reads_the_session_through_the_surface(
        window_for: Any, qtbot: Any, arun: Any, gen2_server: Any) -> None:
    """Generation 2 has no /state route: the panel shows what GET /v1/sessions/{id} says
    (read through the common surface), not "not offered" for the whole panel."""
    from app.core.session import SessionSpec

    w = window_for(gen2_server.url, poll_interval=0.3)
    qtbot.waitUntil(lambda: w.dashboard.server.ok, timeout=30_000)
    spec = SessionSpec(type="ohlcv", prompt=TEST_PROMPT, flash=(), flash_max_tokens=4,
                       session_id="state-gen2", window_tokens=1536, pre_decode=False)
    view = arun(w.create_session(spec))
    view.attach_feed(SyntheticFeed(seed=5, speed=300.0, count=FED), "synthetic")
    qtbot.waitUntil(lambda: len(view.model.store) == FED, timeout=60_000)
    sc = w.cockpit.cockpit.for_model(view.model)
    panel = show(w, "Session state")
    surface = arun(w.dashboard.client.surface())

    def settled() -> bool:
        truth = arun(surface.get_session("state-gen2"))
        return (not truth.pending and sc.state.value is not None
                and sc.state.value.tokens == truth.tokens
                and panel.shown()["tokens"].startswith(f"{truth.tokens:,}"))

    qtbot.waitUntil(settled, timeout=60_000)
    assert not sc.state.unsupported and sc.state.error is None
    truth = arun(surface.get_session("state-gen2"))
    shown = panel.shown()
    assert shown["tokens"] == f"{truth.tokens:,} · KV {truth.kv_tokens:,}"
    assert shown["data region"].startswith("window 1,536 tokens")
    assert shown["data count"].startswith(f"data version {truth.data_version}")
    assert shown["in use"] == ("yes" if truth.busy else "no")
    assert shown["positions"] == "not offered by this server"
    assert shown["type"] == "ohlcv"
    assert "Session state is not offered" not in panel.notice.text()
    assert "API generation 2" in panel.notice.text() and panel.notice.isVisible()
    assert panel.viewer.toPlainText() == "" and "not offered" in panel.viewer.placeholderText()
