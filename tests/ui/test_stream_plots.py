"""Each stream type's plot (pytest-qt, offscreen) receives its data: points, bands, breach
marks, episodes, lanes counted; it follows the newest entry only at the right edge, zooms to
min/max bins, and its crosshair reads the entry under the mouse."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF

from app.streams import registry
from app.streams.event import Event
from app.streams.iot import Iot
from app.streams.spatial import Spatial
from app.streams.vitals import FEVER_C, HYPOXIA_SPO2, TACHYCARDIA_HR, Vitals
from app.ui.plots import make_plot, plot_class
from app.ui.plots.event import EventPlot
from app.ui.plots.iot import IotPlot
from app.ui.plots.spatial import SpatialPlot
from app.ui.plots.vitals import VitalsPlot

START = 1_700_000_000.0


def shown(qtbot: Any, plot: Any) -> Any:
    qtbot.addWidget(plot)
    plot.resize(1000, 600)
    plot.show()
    qtbot.waitExposed(plot)
    return plot


def painted(qtbot: Any, plot: Any) -> dict[str, int]:
    plot.refresh()
    plot.grab()  # renders every item once, as a paint of the window would
    return plot.counts()


def entries(stream: Any, n: int, seed: int = 1) -> list[Any]:
    return stream.generator(seed=seed, start=START, interval=stream.interval).take(n)


def test_the_registry_names_a_plot_for_every_type_and_it_draws_that_types_store(
    qtbot: Any,
) -> None:
    for stream in registry.all_types():
        store = stream.new_store()
        store.extend(entries(stream, 50))
        plot = shown(qtbot, make_plot(stream, store))
        assert isinstance(plot, plot_class(stream))
        assert any(v > 0 for v in painted(qtbot, plot).values())
        assert plot.refresh() is False  # nothing new: nothing done


def test_iot_plot_draws_a_line_and_band_per_sensor_and_marks_every_breach(qtbot: Any) -> None:
    store = Iot.new_store()
    data = entries(Iot, 1500)
    store.extend(data[:900])
    plot: IotPlot = shown(qtbot, IotPlot(store))
    store.extend(data[900:])
    counts = painted(qtbot, plot)
    sensors = {e.sid for e in data}
    breaches = sum(1 for e in data if not e.lo <= e.val <= e.hi)
    assert breaches > 0
    assert counts["sensors"] == len(sensors) == 3 and plot.sensor_names() == [
        "boiler-1", "pump-2", "room-3"]
    assert counts["points"] == 1500 and counts["breaches"] == breaches
    assert counts["bands"] == 3  # each sensor's band never changed: one span each
    assert 0 < counts["drawn_points"] <= 1500


def test_vitals_plot_stacks_each_sign_and_shades_every_episode(qtbot: Any) -> None:
    store = Vitals.new_store()
    data = entries(Vitals, 1200)
    plot: VitalsPlot = shown(qtbot, VitalsPlot(store))
    for k in range(0, 1200, 97):  # in batches, as acks arrive: episodes span batches
        store.extend(data[k : k + 97])
        plot.refresh()
    counts = painted(qtbot, plot)
    assert counts["series"] == 5 and counts["points"] == 5 * 1200
    assert len(plot.plots) == 4  # HR, BP, SpO2, temperature, linked in time

    def runs(flags: list[bool]) -> int:
        return sum(1 for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1]))

    expected = {
        "tachycardia": runs([e.hr > TACHYCARDIA_HR for e in data]),
        "bradycardia": runs([e.hr < 60 for e in data]),
        "hypoxia": runs([e.spo2 < HYPOXIA_SPO2 for e in data]),
        "fever": runs([e.temp >= FEVER_C for e in data]),
    }
    assert expected["tachycardia"] > 0 and expected["fever"] > 0
    assert plot.episodes() == expected
    x_ranges = {p.getViewBox().viewRange()[0][0] for p in plot.plots}
    assert len(x_ranges) == 1


def test_spatial_plot_draws_the_path_position_heading_and_speed(qtbot: Any) -> None:
    store = Spatial.new_store()
    data = entries(Spatial, 400)
    store.extend(data)
    plot: SpatialPlot = shown(qtbot, SpatialPlot(store))
    counts = painted(qtbot, plot)
    assert counts["path_points"] == counts["speed_points"] == 400
    assert counts["drawn_path_points"] == 400 and counts["drawn_speed_points"] > 0
    last = data[-1]
    px, py = plot.position.getData()
    assert (px[0], py[0]) == (last.x, last.y)
    hx, hy = plot.heading.getData()
    heading = np.degrees(np.arctan2(hx[1] - hx[0], hy[1] - hy[0])) % 360
    assert heading == pytest.approx(last.hdg, abs=0.01)


def test_event_timeline_lanes_by_source_or_category_and_bins_when_zoomed_out(
    qtbot: Any,
) -> None:
    store = Event.new_store()
    data = entries(Event, 3000)
    store.extend(data)
    plot: EventPlot = shown(qtbot, EventPlot(store))
    t0, t1 = data[0].timestamp, data[-1].timestamp
    plot.set_x_range(t0, t1)
    counts = painted(qtbot, plot)
    assert counts["events"] == 3000 and counts["lanes"] == len({e.src for e in data})
    assert counts["bins"] == 1 and counts["drawn"] > 0  # zoomed out: counts per bin
    plot.lane_box.setCurrentIndex(1)
    assert plot.counts()["lanes"] == len({e.cat for e in data})
    # Zoomed in on ten events: each drawn on its own.
    plot.set_x_range(data[100].timestamp, data[109].timestamp)
    counts = painted(qtbot, plot)
    assert counts["bins"] == 0 and counts["drawn"] == 10


@pytest.mark.parametrize("cls", [IotPlot, VitalsPlot])
def test_follows_only_at_the_right_edge_and_zooms_to_bins(qtbot: Any, cls: type) -> None:
    stream = registry.get("iot" if cls is IotPlot else "vitals")
    store = stream.new_store()
    data = entries(stream, 12000)  # 3000 per sensor: more points than pixels
    store.extend(data[:3000])
    plot = shown(qtbot, cls(store))
    plot.refresh()
    x0, x1 = plot.x_range()
    store.extend(data[3000:3003])
    plot.refresh()
    shift = data[3002].timestamp - data[2999].timestamp
    assert plot.x_range() == pytest.approx((x0 + shift, x1 + shift))
    # Scrolled back: new data does not move the view.
    plot.set_x_range(data[100].timestamp, data[400].timestamp)
    before = plot.x_range()
    store.extend(data[3003:3010])
    plot.refresh()
    assert plot.x_range() == before
    # Everything in view: lines come from min/max bins, not every point.
    store.extend(data[3010:])
    plot.refresh()
    plot.set_x_range(data[0].timestamp, data[-1].timestamp)
    painted(qtbot, plot)
    line = next(iter(plot._lines.values())) if cls is VitalsPlot else next(
        iter(plot._sensors.values())).line
    assert line.level >= 1 and line.drawn_points <= 2 * plot.plots[0].getViewBox().width() + 64


def test_crosshair_reads_the_entry_under_the_mouse(qtbot: Any) -> None:
    store = Vitals.new_store()
    data = entries(Vitals, 300)
    store.extend(data)
    plot: VitalsPlot = shown(qtbot, VitalsPlot(store))
    plot.refresh()
    assert f"heart rate {data[-1].hr:g}" in plot.readout_text()  # the newest, by default
    plot.set_x_range(data[0].timestamp, data[299].timestamp)
    vb = plot.plots[0].getViewBox()
    point = vb.mapViewToScene(QPointF(data[150].timestamp, vb.viewRect().center().y()))
    view_pos = plot.graphics.mapFromScene(point)
    qtbot.mouseMove(plot.graphics.viewport(), QPoint(int(view_pos.x()), int(view_pos.y())))
    qtbot.waitUntil(lambda: plot._hover is not None, timeout=2000)
    i = plot._hover
    assert abs(i - 150) <= 1 and f"heart rate {data[i].hr:g}" in plot.readout_text()
