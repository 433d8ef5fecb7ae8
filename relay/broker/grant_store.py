"""The grants role: exactly-once grants of a session's changes, kept as long as the session's history."""

from __future__ import annotations

import abc


class Grants(abc.ABC):
    @abc.abstractmethod
    async def grant(self, session_id: str, change_id: str) -> bool:
        """Grant a change: True for exactly one caller per session and change id."""

    @abc.abstractmethod
    async def release(self, session_id: str, change_id: str) -> None:
        """Undo a grant that could not be recorded, so that the change can be granted again."""
