"""The launcher form's API generation field, as a user sets it: the command shown (and run)
changes, and the --api-key box appears only for generation 2."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.launcher import Profile
from app.ui.launcher_form import ProfileForm


def test_api_generation_field_drives_the_command(qtbot: QtBot) -> None:
    form = ProfileForm()
    qtbot.addWidget(form)
    form.show()
    base = Profile.bundled()
    form.fill(base)
    assert "--api 1" in form.command_view.toPlainText()
    assert form.api_combo.isVisible() and not form.require_key_check.isVisible()
    edits: list[bool] = []
    form.edited.connect(lambda: edits.append(True))
    form.api_combo.setCurrentIndex(form.api_combo.findData(2))
    chosen = form.profile(base)
    assert chosen.api == 2 and edits
    form.fill(chosen)
    assert form.require_key_check.isVisible()
    assert "--api 2" in form.command_view.toPlainText()
    form.require_key_check.setChecked(True)
    keyed = form.profile(chosen)
    form.fill(keyed)
    assert keyed.require_key and "--api-key" in form.command_view.toPlainText()
    form.fill(Profile(name="Remote", kind="binary"))
    assert not form.api_combo.isVisible()  # only the bundled server takes --api
