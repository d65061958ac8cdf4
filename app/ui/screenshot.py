"""`--screenshot`: a picture of the main window, and beside it (FILE.json) what it shows.

The report names, for each open session, how much data is drawn, which flash answers are
shown, and where its plot and its flash panel sit in the picture, so that a check of the
picture (packaging/smoke.py, tests) can look for candles and answers in the right places
instead of trusting that a window appeared.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)


def _rect(widget: QWidget | None, window: QWidget) -> list[int] | None:
    if widget is None or not widget.isVisible():
        return None
    at = widget.mapTo(window, QPoint(0, 0))
    return [at.x(), at.y(), widget.width(), widget.height()]


def shown(window: Any) -> dict[str, Any]:
    """What the window shows now (sessions, their data, answers, and where they are drawn)."""
    sessions = []
    for view in window.views:
        model = view.model
        answers = [{"query": q.query, "answer": q.latest.value, "confidence": q.latest.confidence}
                   for q in model.board.queries.values() if q.latest is not None]
        plot = getattr(view, "plot", None) or getattr(view, "chart", None)
        sessions.append({
            "session_id": model.session_id, "type": model.type,
            "items": len(model.store), "answers": answers,
            "plot": _rect(plot, window), "flash": _rect(getattr(view, "flash", None), window),
        })
    return {"size": [window.width(), window.height()], "sessions": sessions}


def shows_answers(window: Any) -> bool:
    """Every open session has data drawn and at least one flash answer."""
    report = shown(window)["sessions"]
    return bool(report) and all(s["items"] > 0 and s["answers"] for s in report)


def save_screenshot(window: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    window.refresh()
    if not window.grab().save(str(path)):
        log.error("could not write screenshot %s", path)
        return
    path.with_suffix(".json").write_text(json.dumps(shown(window), indent=1))
    window.statusBar().showMessage(f"Screenshot saved to {path}", 5000)


def _colour_pixels(image: QImage, rect: list[int], colours: list[QColor],
                   tolerance: int = 24) -> int:
    """Pixels (every other row and column) within `tolerance` of one of `colours`."""
    x0, y0, w, h = rect
    targets = [(c.red(), c.green(), c.blue()) for c in colours]
    count = 0
    for y in range(y0, min(y0 + h, image.height()), 2):
        for x in range(x0, min(x0 + w, image.width()), 2):
            c = image.pixelColor(x, y)
            if any(abs(c.red() - r) + abs(c.green() - g) + abs(c.blue() - b) <= tolerance
                   for r, g, b in targets):
                count += 1
    return count


def picture_problem(path: Path) -> str | None:
    """None if the screenshot shows data in a session's plot and a flash answer with its
    confidence bar in the flash panel (found where the report says they are), else what
    is missing."""
    from app.ui import theme

    report = json.loads(Path(path).with_suffix(".json").read_text())
    sessions = [s for s in report["sessions"] if s["plot"] and s["flash"]]
    if not sessions:
        return f"no session view on screen: {report}"
    session = sessions[0]
    if session["items"] < 1 or not session["answers"]:
        return f"the session shows {session['items']} entries and no flash answer"
    image = QImage(str(path))
    drawn = _colour_pixels(image, session["plot"], [QColor(theme.UP), QColor(theme.DOWN)])
    bars = _colour_pixels(image, session["flash"],
                          [QColor(c) for c in theme.LEVEL_COLOURS.values()])
    if drawn < 20:
        return f"nothing drawn in the plot area ({drawn} data-coloured pixels)"
    if bars < 10:
        return f"no confidence bar in the flash panel ({bars} bar-coloured pixels)"
    return None
