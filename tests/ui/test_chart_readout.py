"""The readout line above the chart: runs must not overlap, whatever font a style sheet sets."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage

from app.ui.chart.readout import Readout

BG = "#14171c"


def _ink_columns(image: QImage) -> list[int]:
    bg = QColor(BG).rgb()
    return [
        x
        for x in range(image.width())
        if any(image.pixel(x, y) != bg for y in range(image.height()))
    ]


@pytest.mark.parametrize("sheet", ["", "QWidget { font-size: 16pt; }"])
def test_runs_keep_their_spaces_under_a_style_sheet(qtbot, sheet: str) -> None:
    font = QFont()
    font.setPointSizeF(9.0)
    readout = Readout(BG, font)
    qtbot.addWidget(readout)
    readout.setStyleSheet(sheet)
    readout.resize(600, 40)
    readout.show()
    qtbot.waitExposed(readout)
    text, muted = QColor("#b2bac8"), QColor("#6c7789")
    readout.set_runs([("14:22", muted), ("  O ", muted), ("99.29", text)])
    image = readout.grab().toImage()
    cols = _ink_columns(image)
    assert cols, "nothing painted"
    gaps = [b - a - 1 for a, b in itertools.pairwise(cols)]
    space = QFontMetricsF(readout.font()).horizontalAdvance(" ")
    # The two spaces before "O" show as the widest blank stretch in the text.
    assert max(gaps) >= 1.5 * space
    assert readout.height() >= QFontMetricsF(readout.font()).height()
