"""Ingest: queue depth against capacity, items/s, drops, batches, processing time, live.

The numbers come from `stream/status` (read once a second while this panel is visible);
the two latencies are the dashboard's own measure of its link (app.core.latency).
Colours turn to the warning colour when the queue is 80 % full or drops are rising.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.core.cockpit import NOT_OFFERED, QUEUE_WARN, SessionCockpit
from app.core.latency import Samples
from app.core.timeseries import SeriesSet
from app.ui import theme
from app.ui.cockpit.graphs import TimeGraph
from app.ui.frame import frame
from app.ui.live_label import LEFT, LiveLabel

NUMBERS_EVERY_S = 0.25  # the measured latencies' texts, at most this often
SPANS = (("last 5 min", 300.0), ("last 15 min", 900.0), ("last hour", 3600.0))
NUMBERS = ("queue", "items/s", "drops", "batches", "processing", "push → data_updated",
           "data_updated → flash")


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e3:.0f} ms"


def _latency(s: Samples) -> str:
    if not s.count:
        return "no samples yet"
    return (f"p50 {_ms(s.percentile(50))} · p99 {_ms(s.percentile(99))} · last {_ms(s.last)}"
            f" <span style='color:{theme.MUTED}'>({s.count:,} samples)</span>")


class IngestPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cockpit: SessionCockpit | None = None
        self._shown: tuple[object, ...] = ()
        self._measured = -1  # the latency samples' version last shown
        self._numbers_at = 0.0
        self._warning: bool | None = None
        self.heading = LiveLabel("<b>Ingest</b>")
        self.notice = QLabel(objectName="muted")
        self.notice.setWordWrap(True)
        self.span = QComboBox()
        for label, seconds in SPANS:
            self.span.addItem(label, seconds)
        self.span.currentIndexChanged.connect(lambda _i: self.set_span(self.span.currentData()))
        top = QHBoxLayout()
        top.addWidget(self.heading, 1, LEFT)
        top.addWidget(QLabel("graphs:", objectName="muted"))
        top.addWidget(self.span)
        self.values: dict[str, LiveLabel] = {}
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(2)
        for i, name in enumerate(NUMBERS):
            value = LiveLabel()
            value.setTextFormat(Qt.TextFormat.RichText)
            value.setText("–")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(QLabel(name, objectName="muted"), i, 0)
            grid.addWidget(value, i, 1, LEFT)
            self.values[name] = value
        self.graphs: list[TimeGraph] = []
        self.queue_graph = self._graph("Queue depth vs capacity", "entries")
        self.rate_graph = self._graph("Items per second", "/s")
        self.drop_graph = self._graph("Drops per second", "/s")
        self.time_graph = self._graph("Processing time per batch", "ms")
        plots = QGridLayout()
        plots.setSpacing(4)
        for i, g in enumerate(self.graphs):
            plots.addWidget(g, i // 2, i % 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addLayout(grid)
        layout.addLayout(plots, 1)
        self.notice.hide()
        self._series: SeriesSet | None = None
        self._next_graph = 0  # the graph the next tick looks at first
        theme.on_change(self._recolour)

    def _recolour(self, _effective: str) -> None:
        self._shown, self._warning = (), None  # texts and titles again in the new colours

    def _graph(self, title: str, unit: str) -> TimeGraph:
        g = TimeGraph(title, unit, span_changed=self._zoomed)
        self.graphs.append(g)
        return g

    def _zoomed(self, seconds: float) -> None:
        for g in self.graphs:
            if g.span != seconds:
                g.set_span(seconds)

    def set_span(self, seconds: float) -> None:
        for g in self.graphs:
            g.set_span(seconds)

    def set_cockpit(self, cockpit: SessionCockpit | None) -> None:
        if cockpit is self.cockpit:
            return
        if self.cockpit is not None:
            self.cockpit.stream.want(False)
        self.cockpit = cockpit
        self._shown = ()
        for g in self.graphs:
            g.forget_curves()
        self._series = None
        if cockpit is not None:
            self._bind(cockpit.ingest.series)

    def _bind(self, s: SeriesSet) -> None:
        self._series = s
        # Colours by theme role: a theme switch redraws them in the new theme's.
        self.queue_graph.add(s["capacity"], "capacity", "MUTED", dashed=True)
        self.queue_curve = self.queue_graph.add(s["queue"], "queue", "ACCENT")
        self.rate_graph.add(s["items_per_s"], "processed", "OK")
        self.rate_graph.add(s["enqueued_per_s"], "enqueued", "ACCENT", dashed=True)
        self.drop_curve = self.drop_graph.add(s["drops_per_s"], "drops/s", "ERROR")
        self.time_graph.add(s["avg_ms"], "average", "MUTED", dashed=True)
        self.time_graph.add(s["recent_ms"], "recent", "ACCENT")
        self._warning = None

    def refresh(self) -> None:
        c = self.cockpit
        if c is None:
            self.heading.setText("<b>Ingest</b> · no session open")
            return
        poller = c.stream
        poller.want(self.isVisible())
        if not self.isVisible():
            return
        # The measured latencies change with every data_updated: their texts are redrawn a
        # few times a second, a new status at once.
        now = time.monotonic()
        key = (poller.version, c.model.session_id)
        if key != self._shown or (c.times.version != self._measured
                                  and now - self._numbers_at >= NUMBERS_EVERY_S):
            self._shown, self._measured, self._numbers_at = key, c.times.version, now
            self._numbers(c)
        # One graph redrawn per display tick at most, when the tick has room (app.ui.frame):
        # the four change together, once a second with each poll.
        n = len(self.graphs)
        for i in range(n):
            g = self.graphs[(self._next_graph + i) % n]
            if g.stale():
                if frame.claim():
                    g.refresh()
                    self._next_graph = (self._next_graph + i + 1) % n
                break

    def _numbers(self, c: SessionCockpit) -> None:
        poller = c.stream
        self.heading.setText(f"<b>Ingest</b> · {c.model.session_id}")
        v = self.values
        if poller.unsupported:
            self.notice.setText(f"Queue and ingest statistics (stream/status) are {NOT_OFFERED}."
                                " The latencies below are measured by the dashboard.")
        elif poller.error:
            self.notice.setText(f"<span style='color:{theme.ERROR}'>not updated: "
                                f"{poller.error}</span>")
        self.notice.setVisible(poller.unsupported or bool(poller.error))
        v["push → data_updated"].setText(_latency(c.times.push_to_update))
        v["data_updated → flash"].setText(_latency(c.times.update_to_flash))
        ingest = c.ingest
        status = ingest.status
        if status is None:
            return
        s, st = status.streaming, status.statistics
        warn = ingest.warning
        fill = ingest.queue_fill
        qcol = theme.WARN if fill >= QUEUE_WARN else theme.TEXT
        v["queue"].setText(f"<span style='color:{qcol}'>{s.queue_size:,} / "
                           f"{s.queue_capacity:,}</span> ({fill * 100:.0f} %)")
        series = ingest.series
        rate = series["items_per_s"].last
        v["items/s"].setText("–" if rate is None else f"{rate:,.1f} processed · "
                             f"{series['enqueued_per_s'].last or 0:,.1f} enqueued")
        dps = series["drops_per_s"].last or 0.0
        dcol = theme.WARN if dps > 0 else theme.TEXT
        v["drops"].setText(f"<span style='color:{dcol}'>{st.total_dropped:,} total · "
                           f"{dps:,.1f}/s</span>")
        v["batches"].setText(f"{st.batches_processed:,} · {st.items_processed:,} items")
        recent = series["recent_ms"].last
        v["processing"].setText(f"average {float(st.avg_process_time_us) / 1e3:.1f} ms · "
                                f"recent {'–' if recent is None else f'{recent:.1f} ms'}")
        if warn != self._warning:
            self._warning = warn
            self.queue_graph.set_pen(self.queue_curve, "WARN" if warn else "ACCENT", 2.0)
            self.queue_graph.set_heading("Queue depth vs capacity"
                                         + (" — WARNING: queue ≥ 80 % or drops rising"
                                            if warn else ""), warning=warn)

    def shown(self) -> dict[str, str]:
        return {name: label.text() for name, label in self.values.items()}
