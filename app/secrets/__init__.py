"""Licence keys: the OS keyring per server URL, with LAYERSCALE_LICENSE_KEY as an override."""

from app.secrets.store import (
    ENV_KEY,
    SERVICE,
    KeyStore,
    KeyStoreUnavailable,
    mask,
    resolve_key,
)
from app.secrets.urls import normalise_url
from app.secrets.worker import keyring_call, resolve_key_async

__all__ = [
    "ENV_KEY",
    "SERVICE",
    "KeyStore",
    "KeyStoreUnavailable",
    "keyring_call",
    "mask",
    "normalise_url",
    "resolve_key",
    "resolve_key_async",
]
