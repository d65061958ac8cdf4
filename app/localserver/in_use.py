"""A foreground request holding a session, for the routes of both API generations."""

from __future__ import annotations

from .sessions import Session


class InUse:
    """Counted in `session.in_use` while it runs (the state views show it: gen 1 as `in_use`,
    gen 2 as `busy`, and gen 2's DELETE answers 409 meanwhile); the session is touched at
    both ends, so idle expiry counts from the request's end."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __enter__(self) -> None:
        self.session.in_use += 1
        self.session.touch()

    def __exit__(self, *_exc: object) -> None:
        self.session.in_use -= 1
        self.session.touch()
