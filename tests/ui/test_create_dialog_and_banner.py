"""Widgets that render or collect plain data (no server needed): the "New session" dialog's
fields become the init request, and the banner shows each server problem and hides on recovery."""

from __future__ import annotations

from typing import Any

from app.api.errors import ServiceUnavailableError
from app.core.problems import Problem
from app.core.server import ServerState
from app.streams import registry
from app.ui.banner import Banner
from app.ui.create_dialog import CreateSessionDialog


def test_dialog_fields_become_the_session_spec(qtbot: Any) -> None:
    dialog = CreateSessionDialog()
    qtbot.addWidget(dialog)
    dialog.set_type("iot")
    dialog.prompt.setPlainText("  Sensor readings, one per line.  ")
    dialog.context.setValue(8192)
    dialog.window.setValue(120)
    dialog.queries.setPlainText("Is it overheating?\n\n  Is pressure rising?  \n")
    dialog.max_tokens.setValue(12)
    dialog.mark_prefix.setChecked(False)
    dialog.frame.setChecked(False)
    assert dialog.spec().create_kwargs() == {
        "type": "iot", "prompt": "Sensor readings, one per line.", "context": 8192,
        "window_size": 120, "mark_prefix": False,
        "flash": [{"query": "Is it overheating?", "max_tokens": 12},
                  {"query": "Is pressure rising?", "max_tokens": 12}],
    }
    # "server default" and "no window" (the spin boxes' zero) are left out of the request.
    dialog.context.setValue(0)
    dialog.window.setValue(0)
    dialog.queries.clear()
    kwargs = dialog.spec().create_kwargs()
    assert "context" not in kwargs and "window_size" not in kwargs and "flash" not in kwargs


def test_dialog_offers_each_types_prompt_and_questions_and_keeps_edits(qtbot: Any) -> None:
    dialog = CreateSessionDialog()
    qtbot.addWidget(dialog)
    for name in registry.names():
        dialog.set_type(name)
        stream = registry.get(name)
        assert dialog.prompt.toPlainText() == stream.demo_prompt()
        assert dialog.queries.toPlainText().splitlines() == list(stream.questions)
        assert all(f.name in dialog.fields.text() for f in stream.required())
        spec = dialog.spec()
        assert spec.type == name and spec.flash == stream.demo_questions()
    dialog.queries.setPlainText("Is boiler-1 too hot?")
    dialog.set_type("iot")  # an edited question survives a change of type
    assert dialog.queries.toPlainText() == "Is boiler-1 too hot?"


def test_banner_shows_loading_with_countdown_then_hides(qtbot: Any) -> None:
    banner = Banner()
    qtbot.addWidget(banner)
    banner.show()  # as inside the shown main window; the banner hides itself when idle
    state = ServerState("http://127.0.0.1:9")
    state.set_problem(ServiceUnavailableError("model loading", status=503), retry_in=5.0)
    banner.show_state(state)
    assert banner.isVisible() and banner.problem is Problem.LOADING
    assert "loading" in banner.title.text() and "model loading" in banner.detail.text()
    assert banner.countdown.text() in ("retrying in 5 s", "retrying in 4 s")
    state.set_ok(model="smol")
    banner.show_state(state)
    assert not banner.isVisible() and banner.problem is None
