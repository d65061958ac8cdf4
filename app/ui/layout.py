"""What the main window remembers between runs (QSettings): geometry, docks, the last
server and the tabs open on each server. Never a licence key: those live in the keyring."""

from __future__ import annotations

import json

from PySide6.QtCore import QByteArray, QSettings

GEOMETRY = "window/geometry"
STATE = "window/state"
SERVER = "server/last"
TABS = "tabs/by_server"  # JSON: {url: [session id, ...]}
TABS_SERVERS_KEPT = 32


def save(settings: QSettings, geometry: QByteArray, state: QByteArray, url: str,
         tab_ids: list[str]) -> None:
    settings.setValue(GEOMETRY, geometry)
    settings.setValue(STATE, state)
    settings.setValue(SERVER, url)
    tabs = _tabs(settings)
    tabs.pop(url, None)
    tabs[url] = list(tab_ids)  # newest last, so the oldest servers go first
    while len(tabs) > TABS_SERVERS_KEPT:
        del tabs[next(iter(tabs))]
    settings.setValue(TABS, json.dumps(tabs))


def window(settings: QSettings) -> tuple[QByteArray | None, QByteArray | None]:
    geometry, state = settings.value(GEOMETRY), settings.value(STATE)
    return (geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None)


def last_server(settings: QSettings) -> str | None:
    value = settings.value(SERVER)
    return value if isinstance(value, str) and value else None


def tabs(settings: QSettings, url: str) -> list[str]:
    return [str(s) for s in _tabs(settings).get(url, [])]


def _tabs(settings: QSettings) -> dict[str, list[str]]:
    try:
        data = json.loads(str(settings.value(TABS) or "{}"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
