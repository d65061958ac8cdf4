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

__all__ = [
    "ENV_KEY",
    "SERVICE",
    "KeyStore",
    "KeyStoreUnavailable",
    "mask",
    "normalise_url",
    "resolve_key",
]
