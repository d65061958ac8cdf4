"""Server overview: health with its history strip, model, sessions against the maximum,
totals across sessions, and a sortable table of every session with sparklines.

Tokens come from the sessions listing (polled by the ServerMonitor anyway); queue depth,
drops and ingest rate from each session's `stream/status`, read every 2 s only while
this panel is visible. Open sessions also show what their link reports (data version,
last queue size from acks) on the next frame.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.cockpit import NOT_OFFERED, ServerOverview
from app.ui import theme
from app.ui.cockpit.graphs import SPARK_ROLE, SparklineDelegate
from app.ui.frame import frame
from app.ui.live_label import LEFT, LiveLabel

HEALTH_COLOURS = {"ready": theme.OK, "loading": theme.WARN, "unreachable": theme.ERROR,
                  "error": "#b04ad8", "connecting": theme.MUTED}
STRIP_MIN = 300  # the strip shows at least 5 minutes, so the first samples read as a band
COLUMNS = ("session", "type", "tokens", "context", "cache", "queue", "queue (5 min)",
           "tokens (5 min)", "drops", "items/s", "data v", "last answer", "in use",
           "last used")
SPARK_QUEUE, SPARK_TOKENS = COLUMNS.index("queue (5 min)"), COLUMNS.index("tokens (5 min)")
# What an open session's link changes, drawn on the next frame: acked queue, data
# version, the newest flash answer (any query).
LIVE_COLUMNS = (COLUMNS.index("queue"), COLUMNS.index("data v"), COLUMNS.index("last answer"))
(_TYPE, _TOKENS, _CONTEXT, _CACHE, _QUEUE, _DROPS, _RATE, _VERSION, _ANSWER, _IN_USE,
 _LAST_USED) = (COLUMNS.index(c) for c in ("type", "tokens", "context", "cache", "queue",
                                            "drops", "items/s", "data v", "last answer",
                                            "in use", "last used"))
ANSWER_CHARS = 24  # of the answer's text in its cell (all of it in the tooltip)
SPARK_POINTS = 60
# Cells signalled per display tick by the once-a-second sync (the rest on the next ticks):
# a repaint costs ~7 Python data() calls per cell, and 20 rows x 14 columns at once make
# one long frame.
CELLS_PER_TICK = 8
ROWS_PER_TICK = 5  # rows the once-a-second sync compares per tick (13 data() calls each)
ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole, Qt.ItemDataRole.ToolTipRole)
Index = QModelIndex | QPersistentModelIndex


class HealthStrip(QWidget):
    """Ready / loading / unreachable over time: one coloured column per sample."""

    def __init__(self, overview: ServerOverview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overview = overview
        self.setMinimumHeight(22)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._drawn = -1

    def refresh(self) -> None:
        if len(self.overview.health) != self._drawn or self.overview.health.maxlen == \
                len(self.overview.health):
            self._drawn = len(self.overview.health)
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        r = self.rect().adjusted(0, 2, 0, -2)
        p.fillRect(r, QColor(theme.RAISED))
        samples = list(self.overview.health)
        if samples:
            n = max(STRIP_MIN, len(samples))
            w = r.width() / n
            x0 = r.right() - len(samples) * w
            for i, (_t, state) in enumerate(samples):
                p.fillRect(QRectF(x0 + i * w, r.top(), max(w, 1.0), r.height()),
                           QColor(HEALTH_COLOURS.get(state, theme.MUTED)))
        p.end()


class SessionsModel(QAbstractTableModel):
    def __init__(self, overview: ServerOverview) -> None:
        super().__init__()
        self.overview = overview
        self.ids: list[str] = []
        self._models: dict[str, Any] = {}  # open sessions' models, by id, as of this frame
        # Sparkline points by (session, column), kept while the series' version holds:
        # a repaint of the row must not re-slice the series.
        self._sparks: dict[tuple[str, int], tuple[int, int, list[float]]] = {}
        self._cells: dict[tuple[str, int], Any] = {}  # what each cell showed when signalled
        self._due: dict[tuple[str, int], None] = {}  # cells to signal, in order
        self._scan: dict[str, None] = {}  # rows to compare with what their cells showed

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def sync(self) -> bool:
        """Follow the listing; True when the set of rows changed (columns to re-fit).

        Otherwise only the cells whose text (or sparkline) changed are signalled, one by
        one: a view repaints its whole viewport for a multi-cell dataChanged, and this
        table has 20 rows of 13 columns with two sparklines each."""
        ids = list(self.overview.dashboard.sessions.order)
        self._models = {o.model.session_id: o.model for o in self.overview.dashboard.open}
        if ids != self.ids:
            self.beginResetModel()
            self.ids = ids
            self._sparks = {k: v for k, v in self._sparks.items() if k[0] in set(ids)}
            self._cells, self._due, self._scan = {}, {}, {}
            self.endResetModel()
            return True
        self._scan = dict.fromkeys(ids)  # compared a few rows a tick, from flush()
        self.flush()
        return False

    def _compare(self, r: int, sid: str) -> None:
        """Queue the cells of row `r` whose text (or sparkline) changed."""
        line = self.overview.lines.get(sid)
        second = int(time.time())
        for c in range(len(COLUMNS)):
            if c in (SPARK_QUEUE, SPARK_TOKENS):
                series = None if line is None else line.queue if c == SPARK_QUEUE \
                    else line.tokens
                now: Any = None if series is None else (series.version, second)
            else:
                now = self.data(self.index(r, c))
            if self._cells.get((sid, c), self) != now:
                self._cells[(sid, c)] = now
                self._due[(sid, c)] = None

    def flush(self, budget: int = CELLS_PER_TICK, rows_budget: int = ROWS_PER_TICK) -> None:
        """Compare up to `rows_budget` rows the last sync asked for, then signal up to
        `budget` of the cells found changed."""
        if not self._due and not self._scan:
            return
        rows = {sid: r for r, sid in enumerate(self.ids)}
        for sid in list(self._scan)[:rows_budget]:
            del self._scan[sid]
            r = rows.get(sid)
            if r is not None:
                self._compare(r, sid)
        for key in list(self._due)[:budget]:
            del self._due[key]
            r = rows.get(key[0])
            if r is not None:
                cell = self.index(r, key[1])
                self.dataChanged.emit(cell, cell)

    def live_changed(self, cells: list[tuple[int, int]]) -> None:
        """One signal per live cell that changed this frame: a single-cell dataChanged
        repaints that cell; a range would repaint the whole viewport."""
        self._models = {o.model.session_id: o.model for o in self.overview.dashboard.open}
        for r, c in cells:
            cell = self.index(r, c)
            self._cells.pop((self.ids[r], c), None)
            self.dataChanged.emit(cell, cell, [Qt.ItemDataRole.DisplayRole])

    def _open(self, sid: str) -> Any:
        return self._models.get(sid)

    @staticmethod
    def _answer(model: Any, role: int) -> Any:
        """The newest flash answer of an open session: its text and the data version it
        answers; the query and confidence in the tooltip; sorted by when it came."""
        newest = model.board.newest if model is not None else None
        if newest is None:
            return -1.0 if role == Qt.ItemDataRole.UserRole else \
                None if role == Qt.ItemDataRole.ToolTipRole else "–"
        query, a = newest
        if role == Qt.ItemDataRole.UserRole:
            return a.received_at
        if role == Qt.ItemDataRole.ToolTipRole:
            p = "" if a.odds is None else f", p {a.odds:.2f}"
            return f"{query}\n→ {a.value} (data v{a.data_version}{p})"
        text = " ".join(a.value.split()) or "(empty)"
        if len(text) > ANSWER_CHARS:
            text = text[:ANSWER_CHARS - 1] + "…"
        return f"{text} · v{a.data_version}"

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # The role first: a view asks ~7 roles per painted cell, most of them unused here.
        if role not in ROLES and role != SPARK_ROLE:
            return None
        if not index.isValid() or index.row() >= len(self.ids):
            return None
        sid = self.ids[index.row()]
        row = self.overview.dashboard.sessions.rows.get(sid)
        line = self.overview.lines.get(sid)
        col = index.column()
        if role == SPARK_ROLE and line is not None and col in (SPARK_QUEUE, SPARK_TOKENS):
            series = line.queue if col == SPARK_QUEUE else line.tokens
            second = int(time.time())  # the 5-minute window slides on whole seconds
            kept = self._sparks.get((sid, col))
            if kept is not None and kept[0] == series.version and kept[1] == second:
                return kept[2]
            _, ys = series.window(300.0, float(second))
            points = ys[-SPARK_POINTS:].tolist()
            self._sparks[(sid, col)] = (series.version, second, points)
            return points
        if row is None:
            return None
        if role == SPARK_ROLE:
            return None
        model = self._open(sid)
        sort = role == Qt.ItemDataRole.UserRole
        if col == 0:
            return sid
        if col == _TYPE:
            return row.type or "?"
        if col == _TOKENS:
            return row.n_tokens if sort else f"{row.n_tokens:,}"
        if col == _CONTEXT:
            return row.context if sort else f"{row.context:,}"
        if col == _CACHE:
            return row.cache_usage if sort else f"{row.cache_usage * 100:.1f} %"
        if col == _QUEUE:
            # Freshest first: our own link's acks, gen 2's pending lines, the last status.
            q = model.server_queue if model is not None and model.pushes else \
                row.pending if row.generation == 2 else \
                line.queue_size if line is not None and line.queue_capacity else None
            if sort:
                return q if q is not None else -1
            cap = f" / {line.queue_capacity}" if line is not None and line.queue_capacity else ""
            return "–" if q is None else f"{q}{cap}"
        if col in (SPARK_QUEUE, SPARK_TOKENS):
            return (line.queue.last if col == SPARK_QUEUE else line.tokens.last) or 0 \
                if sort and line is not None else ""
        if col == _DROPS:
            return (line.dropped if line else -1) if sort else \
                (f"{line.dropped:,}" if line and line.queue_capacity else "–")
        if col == _RATE:
            return (line.items_per_s if line else -1) if sort else \
                (f"{line.items_per_s:,.1f}" if line and line.queue_capacity else "–")
        if col == _VERSION:
            v = model.data_version if model is not None else None
            return (v if v is not None else -1) if sort else ("–" if v is None else f"v{v}")
        if col == _ANSWER:
            return self._answer(model, role)
        if col == _IN_USE:
            return row.in_use if sort else ("yes" if row.in_use else "no")
        if col == _LAST_USED:
            return row.last_used_at if sort else time.strftime(
                "%H:%M:%S", time.localtime(row.last_used_at)) if row.last_used_at else "–"
        return None


class ServerPanel(QWidget):
    def __init__(self, overview: ServerOverview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overview = overview
        self.heading = LiveLabel("<b>Server overview</b>")
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.strip = HealthStrip(overview)
        self.strip_label = LiveLabel(objectName="muted")
        self.strip_label.setTextFormat(Qt.TextFormat.RichText)
        self.values: dict[str, LiveLabel] = {}
        grid = QGridLayout()
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        names = ("health", "model", "sessions", "tokens", "queue depth", "drops", "ingest rate",
                 "stream status")
        for i, name in enumerate(names):
            value = LiveLabel()
            value.setTextFormat(Qt.TextFormat.RichText)
            value.setText("–")
            grid.addWidget(QLabel(name, objectName="muted"), i // 2, (i % 2) * 2)
            grid.addWidget(value, i // 2, (i % 2) * 2 + 1, LEFT)
            self.values[name] = value
        self.model = SessionsModel(overview)
        from PySide6.QtCore import QSortFilterProxyModel

        self.proxy = QSortFilterProxyModel()
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setDynamicSortFilter(True)
        self.table = QTableView()
        theme.opaque_viewport(self.table)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setItemDelegateForColumn(SPARK_QUEUE, SparklineDelegate(theme.ACCENT, self))
        self.table.setItemDelegateForColumn(SPARK_TOKENS, SparklineDelegate(theme.OK, self))
        # Columns are fitted when rows come and go, not on every update: fitting reads
        # every cell, and live cells change every frame.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.heading, 0, LEFT)
        layout.addWidget(self.strip)
        layout.addWidget(self.strip_label, 0, LEFT)
        layout.addLayout(grid)
        layout.addWidget(self.table, 1)
        self._shown: tuple[object, ...] = ()
        self._live: dict[str, tuple[int, int, int]] = {}
        theme.on_change(self._recolour)

    def _recolour(self, _effective: str) -> None:
        self._shown = ()
        self.strip.update()

    def refresh(self) -> None:
        o = self.overview
        visible = self.isVisible()
        o.want(visible)
        if not visible:
            return
        self.strip.refresh()
        d = o.dashboard
        self._refresh_live()
        self.model.flush()  # what the last once-a-second sync left for this tick
        # Ages tick once a second, half a second off the session state panel's second, so
        # the two once-a-second redraws do not land in the same frame.
        key = (o.version, d.sessions.version, d.server.version, id(d.sessions),
               int(time.time() + 0.5))
        if key == self._shown or not frame.claim():  # (a tick with room: app.ui.frame)
            return
        self._shown = key
        if self.model.sync():
            self.table.resizeColumnsToContents()
            for col in (SPARK_QUEUE, SPARK_TOKENS):
                self.table.horizontalHeader().resizeSection(col, 130)
        server = d.server
        from app.core.cockpit import health_of

        health = health_of(server)
        colour = HEALTH_COLOURS.get(health, theme.MUTED)
        detail = f" · {server.banner.title}" if server.banner else ""
        v = self.values
        v["health"].setText(f"<span style='color:{colour}'>●</span> {health}{detail}")
        v["model"].setText(server.model or "–")
        t = o.totals()
        most = d.sessions.max_sessions or o.max_sessions
        v["sessions"].setText(f"{int(t['sessions'])}" + (f" / {most}" if most else ""))
        v["tokens"].setText(f"{int(t['tokens']):,}")
        offered = o.status_offered is not False
        v["queue depth"].setText(f"{int(t['queue']):,}" if offered else "–")
        v["drops"].setText(f"{int(t['dropped']):,}" if offered else "–")
        v["ingest rate"].setText(f"{t['items_per_s']:,.1f} items/s (30 s)" if offered else "–")
        v["stream status"].setText("read every 2 s while shown" if offered else NOT_OFFERED)
        h = list(o.health)
        if h:
            since = time.strftime("%H:%M:%S", time.localtime(h[0][0]))
            counts = {s: sum(1 for _, x in h if x == s) for s in HEALTH_COLOURS}
            parts = " · ".join(f"<span style='color:{HEALTH_COLOURS[s]}'>■</span> {s} {n} s"
                               for s, n in counts.items() if n)
            self.strip_label.setText(f"health since {since}: {parts}")
        self.heading.setText(f"<b>Server overview</b> · {d.url}")

    def _refresh_live(self) -> None:
        """Open sessions' link state (data version, acked queue) on the very next frame."""
        changed: list[tuple[int, int]] = []
        rows = {sid: r for r, sid in enumerate(self.model.ids)}
        queue, version, answer = LIVE_COLUMNS
        for item in self.overview.dashboard.open:
            m = item.model
            now = (m.data_version, m.server_queue, m.board.version)
            was = self._live.get(m.session_id)
            if was != now:
                self._live[m.session_id] = now
                r = rows.get(m.session_id)
                if r is None:
                    continue
                if was is None or was[1] != now[1]:
                    changed.append((r, queue))
                if was is None or was[0] != now[0]:
                    changed.append((r, version))
                if was is None or was[2] != now[2]:
                    changed.append((r, answer))
        if changed:
            self.model.live_changed(changed)

    def shown(self) -> dict[str, str]:
        return {name: label.text() for name, label in self.values.items()}

    def cell(self, session_id: str, column: str) -> str:
        """The table's text for one session and column (tests)."""
        row = self.model.ids.index(session_id)
        value = self.model.data(self.model.index(row, COLUMNS.index(column)))
        return "" if value is None else str(value)
