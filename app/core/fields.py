"""Reading protocol objects whether they arrive as pydantic models or plain dicts.

The client returns pydantic models that keep unknown extra fields; core reads
them through this one helper so it works with either shape (and with events that
nest their payload under ``data``).
"""

from __future__ import annotations

from typing import Any


def get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    value = getattr(obj, name, None)
    if value is not None:
        return value
    extra = getattr(obj, "model_extra", None)
    if isinstance(extra, dict) and name in extra:
        return extra[name]
    data = getattr(obj, "data", None)
    if data is not None and data is not obj and not isinstance(data, list):
        return get(data, name, default)
    return default


def path(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        obj = get(obj, name)
        if obj is None:
            return default
    return obj
