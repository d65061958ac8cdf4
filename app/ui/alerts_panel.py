"""Alert rules of a session, their log, and where alerts go (tray, sound, webhook).

The rules and their evaluation live in app.core.alerts (once per bar close); the
webhook in app.core.webhook (on the asyncio loop). This panel edits rules, shows the
log with each alert's delivery state, and hands new alerts to the tray and the sound.
"""

from __future__ import annotations

import contextlib
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.alerts import KINDS, Alert, AlertEngine, AlertRule
from app.core.session import SessionModel
from app.core.webhook import WebhookSender
from app.ui import theme
from app.ui.chart.time_axis import format_time
from app.ui.flash_panel import display_query
from app.ui.tasks import spawn

__all__ = ["AlertsPanel"]

LOG_HEADERS = ("fired", "bar", "alert", "delivery")
RULE_ID = Qt.ItemDataRole.UserRole + 1


class AlertsPanel(QWidget):
    notify = Signal(str, str)  # title, message: the main window's tray note

    def __init__(self, model: SessionModel, engine: AlertEngine,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.engine = engine
        self.webhook: WebhookSender | None = None
        self._seen_seq = 0
        self._log_version = -1
        self._dirty = False
        engine.sinks.append(self._deliver)
        # --- a new rule
        self.query = QComboBox()
        self.query.setMinimumWidth(180)
        self.kind = QComboBox()
        self.kind.addItems(["flips", "p crosses", "answer with p ≥"])
        self.level = QDoubleSpinBox(minimum=0.5, maximum=1.0, singleStep=0.05, value=0.8,
                                    decimals=2)
        self.answer = QLineEdit("yes")
        self.answer.setMaximumWidth(70)
        self.direction = QComboBox()
        self.direction.addItems(["either", "up", "down"])
        self.add_btn = QPushButton("Add rule")
        self.add_btn.clicked.connect(self._add_clicked)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        form = QHBoxLayout()
        for w in (QLabel("Alert when"), self.query, self.kind, self.answer, self.level,
                  self.direction, self.add_btn):
            form.addWidget(w)
        form.addStretch(1)
        self.rules = QListWidget()
        self.rules.setMaximumHeight(70)
        self.remove_btn = QPushButton("Remove rule")
        self.remove_btn.clicked.connect(self._remove_clicked)
        # --- where alerts go
        self.tray = QCheckBox("tray note", checked=True)
        self.sound = QCheckBox("sound", checked=True)
        self.hook_on = QCheckBox("POST to")
        self.hook_url = QLineEdit()
        self.hook_url.setPlaceholderText("https://example.org/hook (JSON body: README)")
        self.hook_on.toggled.connect(self._hook_toggled)
        self.hook_url.editingFinished.connect(self._hook_url_changed)
        self.hook_state = QLabel(objectName="muted")
        out = QHBoxLayout()
        for w in (QLabel("Deliver as"), self.tray, self.sound, self.hook_on):
            out.addWidget(w)
        out.addWidget(self.hook_url, 1)
        out.addWidget(self.hook_state)
        out.addWidget(self.remove_btn)
        # --- the log
        self.log = QTableWidget(0, len(LOG_HEADERS))
        self.log.setHorizontalHeaderLabels(LOG_HEADERS)
        self.log.verticalHeader().hide()
        self.log.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.log.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.rules)
        lay.addLayout(out)
        lay.addWidget(self.log, 1)
        self._queries: list[int] = []
        self._kind_changed()

    # ------------------------------------------------------------------ rules
    def add_rule(self, rule: AlertRule) -> AlertRule:
        self.engine.add(rule)
        item = QListWidgetItem(f"{self._query_text(rule.query_id)}: {rule.describe()}")
        item.setData(RULE_ID, rule.id)
        self.rules.addItem(item)
        return rule

    def _add_clicked(self) -> None:
        i = self.query.currentIndex()
        if not 0 <= i < len(self._queries):
            self.model.note("Add a flash query before an alert rule on it.", "warning")
            return
        kind = KINDS[self.kind.currentIndex()]
        try:
            rule = AlertRule(self._queries[i], kind, level=self.level.value(),
                             answer=self.answer.text() or "yes",
                             direction=self.direction.currentText())
        except ValueError as exc:
            self.model.note(str(exc), "error")
            return
        self.add_rule(rule)

    def _remove_clicked(self) -> None:
        for item in self.rules.selectedItems():
            self.engine.remove(int(item.data(RULE_ID)))
            self.rules.takeItem(self.rules.row(item))

    def _kind_changed(self, *args: object) -> None:
        kind = KINDS[self.kind.currentIndex()]
        self.level.setVisible(kind != "flip")
        self.answer.setVisible(kind == "answer")
        self.direction.setVisible(kind == "cross")

    def _query_text(self, qid: int) -> str:
        q = self.model.board.queries.get(qid)
        text = display_query(q.query) if q else f"query {qid}"
        return text if len(text) <= 40 else text[:39] + "…"

    # ------------------------------------------------------------------ webhook
    def set_webhook(self, url: str | None) -> None:
        """Post alerts to `url` (None: stop); a bad URL is refused with the reason."""
        old, self.webhook = self.webhook, None
        if old is not None:
            spawn(old.aclose())
        if url:
            try:
                self.webhook = WebhookSender(url, self.model.session_id, on_change=self._touch)
            except ValueError as exc:
                self.hook_state.setText(f"<span style='color:{theme.ERROR}'>{exc}</span>")
                self.hook_on.setChecked(False)
                return
            self.hook_state.setText(f"→ {self.webhook.host}")
        else:
            self.hook_state.setText("")

    def _hook_toggled(self, on: bool) -> None:
        self.set_webhook(self.hook_url.text().strip() if on else None)

    def _hook_url_changed(self) -> None:
        if self.hook_on.isChecked():
            self.set_webhook(self.hook_url.text().strip())

    # ------------------------------------------------------------------ delivery
    def _deliver(self, alert: Alert) -> None:
        """An engine sink: the tray, the sound and the webhook for one alert."""
        if self.tray.isChecked():
            alert.deliveries["tray"] = "shown"
            self.notify.emit("Flash alert", alert.message)
        if self.sound.isChecked():
            QApplication.beep()
            alert.deliveries["sound"] = "played"
        if self.webhook is not None:
            self.webhook.submit(alert)
        self._dirty = True

    def _touch(self) -> None:
        self._dirty = True

    def close_sender(self) -> None:
        sender, self.webhook = self.webhook, None
        if sender is not None:
            with contextlib.suppress(RuntimeError):  # no loop any more (quitting)
                spawn(sender.aclose())

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        self._sync_queries()
        if not self._dirty and self.engine.version == self._log_version:
            return
        self._dirty, self._log_version = False, self.engine.version
        alerts = list(self.engine.log)[::-1]  # newest first
        self.log.setRowCount(len(alerts))
        for r, a in enumerate(alerts):
            delivery = "; ".join(f"{k}: {v}" for k, v in a.deliveries.items()) or "logged"
            cells = (time.strftime("%H:%M:%S", time.localtime(a.fired_at)),
                     format_time(a.bar_ts), a.message, delivery)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 3 and "failed" in delivery:
                    item.setForeground(Qt.GlobalColor.red)
                self.log.setItem(r, c, item)

    def _sync_queries(self) -> None:
        ids = list(self.model.board.queries)
        if ids == self._queries:
            return
        self._queries = ids
        self.query.clear()
        self.query.addItems([self._query_text(q) for q in ids])

    def log_text(self) -> list[list[str]]:
        return [[self.log.item(r, c).text() for c in range(self.log.columnCount())]
                for r in range(self.log.rowCount())]
