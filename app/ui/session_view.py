"""One open session: its type's plot with the statistics beside it, flash panel, link state,
feed controls (a tab of the main window)."""

from __future__ import annotations

import html
import math
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.dashboard import Dashboard
from app.core.link import SessionRunner, clip, suggested_window
from app.core.session import Mode, SessionModel
from app.feeds.base import Feed
from app.ui import theme
from app.ui.durations import duration
from app.ui.flash_panel import FlashPanel
from app.ui.live_label import LiveLabel
from app.ui.plots import make_plot
from app.ui.stats_panel import StatsPanel
from app.ui.tasks import spawn

CHART_MIN_HEIGHT = 220
LINK_TEXT_MAX = 90  # characters of a link reason shown in the strip (all of it in the tooltip)
BEHIND_SECONDS = 10.0  # an entry waiting this long at the server means the server is behind

LINK_COLOURS = {"open": theme.OK, "connecting": theme.WARN, "reconnecting": theme.WARN,
                "closed": theme.ERROR}


def chip(text: str = "") -> LiveLabel:
    label = LiveLabel(objectName="chip")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setText(text)
    return label


class SessionView(QWidget):
    notify = Signal(str, str)  # title, message (tray)
    title_changed = Signal()

    def __init__(self, dashboard: Dashboard, model: SessionModel,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dashboard = dashboard
        self.model = model
        self._markers_drawn = 0
        self._seen_version = -1
        self._seen_sid = model.session_id
        self._last_tick = 0.0
        # --- status strip
        self.mode_chip = chip()
        self.link_chip = chip()
        self.version_chip = chip()
        self.queue_chip = chip()
        self.outbox_chip = chip()
        self.candles_chip = chip()
        self.policy = QComboBox()
        self.policy.addItem(f"Keep every {model.stream.unit.removesuffix('s')}", "hold")
        self.policy.addItem("Latest wins", "latest")
        self.policy.setToolTip(
            "When the server reads slower than the feed: hold entries here (the feed slows "
            "down, nothing is lost) or push on and let the server's full queue drop them "
            "(counted)")
        self.policy.currentIndexChanged.connect(self._policy_changed)
        # The strip never sets the window's width: in a narrow window its right end is cut
        # (a server's long reason is cut in the chip itself, whole in its tooltip).
        strip_box = QWidget()
        strip_box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        strip = QHBoxLayout(strip_box)
        strip.setContentsMargins(0, 0, 0, 0)
        for w in (self.mode_chip, self.link_chip, self.version_chip, self.queue_chip,
                  self.outbox_chip, self.candles_chip):
            strip.addWidget(w)
        strip.addStretch(1)
        strip_row = QHBoxLayout()
        strip_row.addWidget(strip_box, 1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.note.hide()
        self.full_bar = self._make_full_bar()
        # --- chart and flash panel
        self.chart = make_plot(model.stream, model.store)
        # Docks (the Server panel) must never squash the plot to a sliver.
        self.chart.setMinimumHeight(CHART_MIN_HEIGHT)
        self.stats = StatsPanel(model)
        self.flash = FlashPanel(model)
        self.flash.add_requested.connect(self._add_flash)
        self.flash.remove_requested.connect(self._remove_flash)
        self.flash.flipped.connect(self._flipped)
        flash_box = QFrame()
        flash_layout = QVBoxLayout(flash_box)
        flash_layout.setContentsMargins(0, 6, 0, 0)
        heading = QLabel(f"<b>Flash answers</b> <span style='color:{theme.MUTED}'>· confidence "
                         "= logit gap, p = odds of the top token over the runner-up</span>")
        heading.setWordWrap(True)
        flash_layout.addWidget(heading)
        flash_layout.addWidget(self.flash, 1)
        # Chart above, flash answers below at full width: answers stay readable in one line.
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.chart)
        top.addWidget(self.stats)
        top.setStretchFactor(0, 5)
        top.setStretchFactor(1, 1)
        top.setSizes([860, 290])
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(top)
        self.split.addWidget(flash_box)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([520, 210])
        # --- feed controls
        self.source = QComboBox()
        self.source.addItems([f"Synthetic {model.stream.title.lower()}", "CSV replay…"])
        self.speed = QDoubleSpinBox(minimum=0.1, maximum=100000.0, value=2.0, decimals=1)
        self.speed.setSuffix(f" {model.stream.unit}/s")
        self.speed.setToolTip("Feed speed; the maximum plays as fast as the link takes it")
        self.speed.valueChanged.connect(self._speed_changed)
        self.start_btn = QPushButton("Start feed")
        self.pause_btn = QPushButton("Pause")
        self.problems_btn = QPushButton()
        self.problems_btn.setStyleSheet(f"color: {theme.WARN}")
        self.problems_btn.hide()
        self.feed_label = QLabel(objectName="muted")
        self.start_btn.clicked.connect(self._start_stop)
        self.pause_btn.clicked.connect(self._pause_resume)
        self.problems_btn.clicked.connect(self._show_problems)
        feed_row = QHBoxLayout()
        feed_row.addWidget(QLabel("Feed"))
        feed_row.addWidget(self.source)
        feed_row.addWidget(self.speed)
        feed_row.addWidget(self.start_btn)
        feed_row.addWidget(self.pause_btn)
        feed_row.addWidget(self.policy)
        feed_row.addWidget(self.problems_btn)
        feed_row.addWidget(self.feed_label, 1)
        # The row fits a 1024-px window beside the sessions: the status text is cut first.
        self.feed_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for box in (self.source, self.policy):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(10)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(strip_row)
        layout.addWidget(self.note)
        layout.addWidget(self.full_bar)
        layout.addWidget(self.split, 1)
        layout.addLayout(feed_row)
        # Candle charts get the trader's tools (timeframes, overlays, scores, alerts).
        from app.ui.trader import TraderTools

        self.trader = TraderTools.install(self)
        self.refresh()

    # ------------------------------------------------------------------ feed control
    # The runner owns the feed and its state (app.core.link); these only send intents.
    @property
    def runner(self) -> SessionRunner:
        return self.dashboard.runner_for(self.model)

    def attach_feed(self, feed: Feed, name: str) -> None:
        self.dashboard.attach_feed(self.model, feed, name)
        self._show_feed_settings()

    def _show_feed_settings(self) -> None:
        # The source box names what is playing, however it was started (CLI, button).
        info = self.model.feed
        self.source.setCurrentIndex(1 if info.kind == "csv" else 0)
        self.speed.blockSignals(True)
        self.speed.setValue(min(self.speed.maximum(), info.speed)
                            if math.isfinite(info.speed) else self.speed.maximum())
        self.speed.blockSignals(False)
        self._seen_version, self._last_tick = -1, 0.0  # the buttons follow on the next frame

    def _start_stop(self) -> None:
        if self.model.feed.running:
            self.runner.stop_feed()
            return
        if self.source.currentIndex() == 0:
            from app.feeds import SyntheticFeed

            start = self.model.store.last_timestamp
            interval = self.model.stream.interval
            feed = SyntheticFeed(stream=self.model.type, seed=int(time.time()) % 10_000,
                                 speed=self._speed_value(), interval=interval,
                                 start=None if start is None else start + interval)
            self.attach_feed(feed, "synthetic")
        else:
            path, _ = QFileDialog.getOpenFileName(
                self, f"Replay a CSV file of {self.model.stream.title}", "",
                "CSV files (*.csv *.txt);;All files (*)")
            if path:
                self.start_csv(path, self._speed_value())

    def start_csv(self, path: str, speed: float) -> None:
        from app.feeds import CsvReplayFeed

        def opened(feed: Feed) -> None:
            self.attach_feed(feed, Path(path).name)
            if feed.total == 0:
                self.model.note(f"{Path(path).name} has no readable rows.", "error")

        spawn(CsvReplayFeed.open(path, speed, stream=self.model.type), on_error=self._error,
              on_done=opened)

    def _pause_resume(self) -> None:
        self.runner.pause_feed(not self.model.feed.paused)

    def _speed_value(self) -> float:
        value = self.speed.value()
        return math.inf if value >= self.speed.maximum() else value

    def _speed_changed(self, value: float) -> None:
        self.runner.set_feed_speed(self._speed_value())

    def _show_problems(self) -> None:
        problems = self.model.feed.problems
        lines = "\n".join(f"line {ln}: {msg}" for ln, msg in problems[:200])
        more = f"\n… and {len(problems) - 200} more" if len(problems) > 200 else ""
        QMessageBox.warning(self, "Rows skipped",
                            f"{len(problems)} row(s) could not be read and were skipped; "
                            f"the other rows play.\n\n{lines}{more}")

    # ------------------------------------------------------------------ backpressure
    def _policy_changed(self, _index: int) -> None:
        self.model.policy = str(self.policy.currentData())
        self.model.touch()

    def _make_full_bar(self) -> QFrame:
        bar = QFrame(objectName="fullBar")
        bar.setStyleSheet(f"#fullBar {{ border: 1px solid {theme.ERROR}; border-radius: 4px; }}")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 4, 8, 4)
        self.full_label = QLabel()
        self.full_label.setWordWrap(True)
        self.full_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.window_btn = QPushButton("Recreate with a sliding window…")
        self.window_btn.setToolTip("A new session with the same prompt and flash queries whose "
                                   "oldest entries make room for new ones; the newest are "
                                   "sent again")
        self.clear_btn = QPushButton("Clear the context")
        self.clear_btn.setToolTip("A new, empty session with the same prompt and flash "
                                  "queries; the plot keeps its history")
        self.window_btn.clicked.connect(self._recreate_with_window)
        self.clear_btn.clicked.connect(lambda: self._recover("clear"))
        row.addWidget(self.full_label, 1)
        row.addWidget(self.window_btn)
        row.addWidget(self.clear_btn)
        bar.hide()
        return bar

    def _recreate_with_window(self) -> None:
        size, ok = QInputDialog.getInt(
            self, "Recreate with a sliding window",
            f"Keep the newest this many {self.model.stream.unit} in the model's context:",
            suggested_window(self.model), 1, 1_000_000)
        if ok:
            self._recover("window", size)

    def _recover(self, action: str, size: int | None = None) -> None:
        self.window_btn.setEnabled(False)
        self.clear_btn.setEnabled(False)

        def done(_result: object) -> None:
            self.window_btn.setEnabled(True)
            self.clear_btn.setEnabled(True)

        def failed(message: str) -> None:
            done(None)
            self._error(f"Could not recreate the session: {message}")

        spawn(self.runner.recover_from_full(action, size), on_error=failed, on_done=done)

    # ------------------------------------------------------------------ flash
    def _add_flash(self, text: str) -> None:
        spawn(self.dashboard.runner_for(self.model).add_flash(text), on_error=self._error)

    def _remove_flash(self, qid: int) -> None:
        spawn(self.dashboard.runner_for(self.model).remove_flash(qid), on_error=self._error)

    def _flipped(self, query: str, before: str, after: str) -> None:
        if self.flash.notify.isChecked():
            self.notify.emit(f"Flash answer changed ({self.model.session_id[:8]})",
                             f"{query}\n{before.strip()} → {after.strip()}")

    def _error(self, message: str) -> None:
        self.model.note(message, "error")

    # ------------------------------------------------------------------ display
    def _show_backlog(self, now: float) -> None:
        """The server's queue: how much waits, for how long, what was dropped."""
        m = self.model
        p = m.progress
        age = p.oldest_queued_age()
        behind = p.queued > 0 and age >= BEHIND_SECONDS
        full = p.queue_capacity and m.server_queue >= 0.8 * p.queue_capacity
        rate = p.drop_rate()
        colour = theme.ERROR if (full or rate > 0) else theme.WARN if behind else theme.TEXT
        text = f"server queue <span style='color:{colour}'>{m.server_queue:,}</span>"
        if p.queue_capacity:
            text += f"/{p.queue_capacity:,}"
        if p.queued:
            text += f" · oldest waiting {duration(age)}"
        if behind:
            text += " · <b>server behind</b>"
        if rate > 0:
            text += f" · dropping {rate:.0f}/s"
        self.queue_chip.setText(text)
        self.queue_chip.setToolTip(
            f"{p.queued:,} {m.stream.unit} acknowledged but not yet read by the model (drawn "
            f"faded); read: {p.ingested:,}; dropped by the server: {p.dropped:,}; sent again "
            f"after a drop: {p.resent:,}")
        set_pending = getattr(self.chart, "set_pending", None)
        if set_pending is not None:
            first = p.ingested if m.owned and p.queued else None
            if first is not None and self.trader is not None:
                # Bars of a coarser timeframe: fade from the bar holding the first unread.
                first = self.trader.view_chart.timeframe.bar_of(first)
            set_pending(first)

    def refresh(self) -> None:
        """Display-timer tick: redraw only what changed since the last tick."""
        m = self.model
        self.chart.refresh()
        # Statistics are read from the server only while someone can see them.
        m.stats_wanted = self.isVisible() and self.stats.isVisible()
        self.stats.refresh()
        for marker in m.markers[self._markers_drawn:]:
            self.chart.add_marker(marker.timestamp, marker.label, marker.colour)
        self._markers_drawn = len(m.markers)
        self.flash.refresh()
        if self.trader is not None:
            self.trader.refresh()
        now = time.monotonic()
        since = now - self._last_tick
        if (m.version == self._seen_version and since < 0.5) or since < 0.1:
            # Text changes at most 10 times a second (a fast feed changes `version` every
            # entry); unchanged state still re-renders twice a second for the countdowns.
            return
        self._seen_version, self._last_tick = m.version, now
        if m.session_id != self._seen_sid:
            self._seen_sid = m.session_id
            self.title_changed.emit()
        mode = {Mode.OWNED: ("fed here", theme.ACCENT),
                Mode.EXTERNAL: (f"fed elsewhere · {m.stream.unit} not shown", theme.MUTED),
                Mode.OBSERVE: ("observe-only feed · not sent", theme.WARN)}[m.mode]
        self.mode_chip.setText(f"<span style='color:{mode[1]}'>{mode[0]}</span>")
        self.mode_chip.setToolTip(f"{m.session_id}: " + {
            Mode.OWNED: "created by this dashboard; its feed pushes to it, and it is "
                        "recreated if the server loses it",
            Mode.EXTERNAL: "fed by another program: link, data version and answers only",
            Mode.OBSERVE: "a local feed is drawn here but never sent"}[m.mode])
        colour = LINK_COLOURS.get(m.link.status, theme.MUTED)
        link_text = m.link.describe(now)
        self.link_chip.setText(f"link <span style='color:{colour}'>●</span> "
                               f"{html.escape(clip(link_text, LINK_TEXT_MAX))}")
        self.link_chip.setToolTip(link_text)
        self.version_chip.setText(f"data v{m.data_version} · {m.data_count} entries")
        self._show_backlog(now)
        box = len(m.outbox)
        box_colour = theme.WARN if box > 100 else theme.TEXT
        held = " (feed held)" if m.outbox.full else ""
        self.outbox_chip.setText(f"outbox <span style='color:{box_colour}'>{box:,}</span>{held}")
        self.outbox_chip.setVisible(m.mode is Mode.OWNED)
        self.queue_chip.setVisible(m.mode is Mode.OWNED)
        extra = f" · {m.rejected} refused" if m.rejected else ""
        p = m.progress
        if m.owned and p.queued:
            extra += f" · {p.queued:,} not yet read (faded)"
        if p.dropped:
            extra += f" · <span style='color:{theme.ERROR}'>{p.dropped:,} dropped</span>"
        self.candles_chip.setText(f"{len(m.store):,} {m.stream.unit} drawn{extra}")
        self.policy.setVisible(m.owned)
        full = bool(p.context_full) and m.owned
        if full:
            self.full_label.setText(
                f"<b style='color:{theme.ERROR}'>Context full.</b> {html.escape(p.context_full)}"
                f" — nothing more is sent; {len(m.outbox):,} {m.stream.unit} wait in the "
                "outbox.")
        self.full_bar.setVisible(full)
        self.flash.set_writable(m.link.status != "closed")
        if m.notes:
            n = m.notes[-1]
            colour = {"info": theme.MUTED, "warning": theme.WARN, "error": theme.ERROR}[n.level]
            at = time.strftime("%H:%M:%S", time.localtime(n.at))
            self.note.setText(f"<span style='color:{colour}'>{at} · {n.text}</span>")
            self.note.show()
        feed = m.feed
        running = feed.running
        self.start_btn.setText("Stop feed" if running else "Start feed")
        self.pause_btn.setEnabled(running)
        self.pause_btn.setText("Resume" if feed.paused else "Pause")
        self.source.setEnabled(not running)
        if feed.name:
            state = "done" if feed.done else "paused" if feed.paused else "playing"
            of = f" of {feed.total:,}" if feed.total else ""
            self.feed_label.setText(f"{feed.name}: {state}, {feed.emitted:,}{of} {m.stream.unit}")
        else:
            self.feed_label.setText("no feed attached" + (
                "" if m.mode is Mode.OWNED else " (a feed here is observe-only: drawn, not sent)"))
        if feed.problems:
            self.problems_btn.setText(f"⚠ {len(feed.problems)} bad rows")
            self.problems_btn.show()
        else:
            self.problems_btn.hide()
