"""IotPlot: a line per sensor, its lo/hi band shaded, readings outside it marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.streams.base import fmt_number
from app.streams.iot import Iot
from app.ui.chart.style import ChartStyle
from app.ui.plots.frame import PALETTE, TimePlots
from app.ui.plots.items import LineItem, MarksItem, SpansItem
from app.ui.plots.series import Series

__all__ = ["IotPlot"]


@dataclass
class _Sensor:
    name: str
    colour: str
    series: Series
    line: LineItem
    bands: SpansItem
    breaches: MarksItem
    band: tuple[float, float] | None = None  # the (lo, hi) of its newest band span


class IotPlot(TimePlots):
    def __init__(self, store: Any, parent: QWidget | None = None, *,
                 style: ChartStyle | None = None) -> None:
        super().__init__(Iot, store, [("", 1)], parent, style=style)
        self.plot = self.plots[0]
        self.plot.getViewBox().setDefaultPadding(0.1)  # room for the legend above the lines
        self._sensors: dict[int, _Sensor] = {}
        self._legend = pg.TextItem(anchor=(1, 0))
        self._legend.setParentItem(self.plot.getViewBox())
        self.plot.getViewBox().sigResized.connect(self._place_legend)
        self.refresh()

    def _sensor(self, code: int) -> _Sensor:
        sensor = self._sensors.get(code)
        if sensor is None:
            colour = PALETTE[len(self._sensors) % len(PALETTE)]
            series = Series()
            sensor = _Sensor(self.store.labels("sid")[code], colour, series,
                             LineItem(series, colour), SpansItem(colour, alpha=28),
                             MarksItem(self.style_.down))
            # Bands under lines under breach marks.
            for z, item in enumerate((sensor.bands, sensor.line, sensor.breaches)):
                item.setZValue(z)
                self.plot.addItem(item)
            self._sensors[code] = sensor
        return sensor

    def _ingest(self, i0: int, i1: int) -> None:
        s = self.store
        t = s.t[i0:i1]
        codes = s.column("sid")[i0:i1]
        val, lo, hi = (s.column(n)[i0:i1] for n in ("val", "lo", "hi"))
        for code in np.unique(codes):
            mask = codes == code
            sensor = self._sensor(int(code))
            ts, vs, los, his = t[mask], val[mask], lo[mask], hi[mask]
            sensor.series.extend(ts, vs)
            sensor.line.sync()
            self._extend_bands(sensor, ts, los, his)
            out = (vs < los) | (vs > his)
            sensor.breaches.extend(ts[out], vs[out])
        self._update_legend()

    def _extend_bands(self, sensor: _Sensor, t: np.ndarray, lo: np.ndarray,
                      hi: np.ndarray) -> None:
        # A band span per run of readings with the same (lo, hi); usually one per sensor.
        change = np.flatnonzero((np.diff(lo) != 0) | (np.diff(hi) != 0)) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [len(t)]))
        for a, b in zip(starts, ends, strict=True):
            band = (float(lo[a]), float(hi[a]))
            if band == sensor.band:
                sensor.bands.extend_last(float(t[b - 1]))
            else:
                # A new span starts where the previous one ended: no gap between them.
                start = float(t[a])
                if sensor.band is not None and len(sensor.bands):
                    sensor.bands.extend_last(start)
                sensor.bands.add(start, float(t[b - 1]), *band)
                sensor.band = band

    def _update_legend(self) -> None:
        parts = []
        for sensor in self._sensors.values():
            band = "" if sensor.band is None else (
                f" [{fmt_number(sensor.band[0])}–{fmt_number(sensor.band[1])}]")
            parts.append(f"<span style='color:{sensor.colour}'>━ {sensor.name}{band}</span>")
        parts.append(f"<span style='color:{self.style_.down}'>✕ breach</span>")
        self._legend.setHtml("&nbsp;&nbsp;".join(parts))
        self._place_legend()

    def _place_legend(self) -> None:
        self._legend.setPos(self.plot.getViewBox().width() - 4, 2)

    def _reset(self) -> None:
        for sensor in self._sensors.values():
            for item in (sensor.bands, sensor.line, sensor.breaches):
                self.plot.removeItem(item)
        self._sensors.clear()

    def counts(self) -> dict[str, int]:
        sensors = list(self._sensors.values())
        return {
            "sensors": len(sensors),
            "points": sum(len(s.series) for s in sensors),
            "drawn_points": sum(s.line.drawn_points for s in sensors),
            "bands": sum(len(s.bands) for s in sensors),
            "breaches": sum(len(s.breaches) for s in sensors),
        }

    def sensor_names(self) -> list[str]:
        return [s.name for s in self._sensors.values()]
