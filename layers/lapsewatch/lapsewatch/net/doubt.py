"""Doubt: a lookup that gets no answer it can use."""

from __future__ import annotations


class Doubt(Exception):
    """A lookup that cannot give an answer; the message says why."""

    def __init__(self, message: str, url: str | None = None, *, credentials_refused: bool = False) -> None:
        super().__init__(message)
        self.url = url
        # The service refused the credentials sent (401, 403): the caller may read them again.
        self.credentials_refused = credentials_refused
