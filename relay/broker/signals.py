"""The signals role: stop requests for generations, exactly-once change grants, tenant settings changes."""

from __future__ import annotations

import abc


class Signals(abc.ABC):
    @abc.abstractmethod
    async def request_stop(self, message_id: str) -> None:
        """Ask whichever worker runs (or will run) this generation to stop it.

        Announced on `keys.STOP_TOPIC` to the event log's listeners, and kept for a worker that starts later.
        """

    @abc.abstractmethod
    async def stop_requested(self, message_id: str) -> bool: ...

    @abc.abstractmethod
    async def grant(self, session_id: str, change_id: str) -> bool:
        """Grant a change: True for exactly one caller per session and change id."""

    @abc.abstractmethod
    async def release(self, session_id: str, change_id: str) -> None:
        """Undo a grant that could not be recorded, so that the change can be granted again."""

    @abc.abstractmethod
    async def settings_changed(self, tenant_id: str) -> None:
        """Announce on `keys.SETTINGS_TOPIC`, to the event log's listeners in every process, that a tenant's
        settings changed (their caches drop it)."""
