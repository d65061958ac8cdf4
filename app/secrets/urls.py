"""One spelling per server URL: a key stored for `localhost:8080/` is found for 127.0.0.1:8080."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str:
    """Canonical base URL: scheme://host[:port], lower-case, no path, no default port.

    `localhost` becomes 127.0.0.1 because the launcher and the dashboard name
    the same loopback server either way. Raises ValueError for anything that
    is not an http(s) base URL.
    """
    text = url.strip()
    if not text:
        raise ValueError("server URL is empty")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"server URL must start with http:// or https:// (got {url!r})")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"server URL has no host (got {url!r})")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"server URL has an invalid port (got {url!r})") from exc
    if ":" in host:
        host = f"[{host}]"
    path = parts.path.rstrip("/")
    # A base URL ending in /v1 is a common slip: the API paths already carry it.
    if path in ("", "/v1"):
        path = ""
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}{path}"
    return f"{scheme}://{host}:{port}{path}"
