"""Changes granted to exactly one claimant per session, ever: Redis decides at once, SQL keeps the record.

A claim names a change the session carries (a stored message's, or the answer in flight's); anything else is
refused before anything is written, so that nobody can take a change id in advance or grow the records.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema import events
from schema.models import AppliedChange
from schema.store import carries_change

from .auth import Claims
from .broker.base import BrokerUnavailable
from .broker.grant_store import Grants
from .broker.log import EventLog
from .errors import ChatError, bad_request

logger = logging.getLogger(__name__)


class ChangeGrants:
    def __init__(self, db: async_sessionmaker[AsyncSession], event_log: EventLog, grants: Grants) -> None:
        self.db = db
        self.event_log = event_log
        self.grants = grants

    async def grant(self, claims: Claims, session_id: str, change_id: Any) -> bool:
        """Grant a change to exactly one claimant, ever (Redis first, SQL as the durable record)."""
        if not isinstance(change_id, str) or len(change_id) != 64:
            raise bad_request("change_id must be a 64-character hex string")
        if not await self._carries(session_id, change_id):  # refused before anything is written
            raise ChatError("not_found", "No message of this session proposes that change.", 404)
        if not await self.grants.grant(session_id, change_id):
            return False
        try:
            async with self.db.begin() as db:
                db.add(AppliedChange(session_id=session_id, change_id=change_id, user_id=claims.user))
        except IntegrityError:
            return False  # granted before Redis lost its keys
        except BaseException:  # not recorded (the database is down, or the push was cancelled): not granted
            await self._release(session_id, change_id)
            raise
        # every tab learns the change is applied (and stored messages' `applied` flags changed: a page event)
        applied = {"change_id": change_id, "user_id": claims.user}
        try:
            await self.event_log.publish(session_id, events.CHANGES_APPLIED, "", applied)
        except BrokerUnavailable:  # the grant stands; tabs that claim it later are refused
            logger.warning("could not announce change %s of session %s as applied", change_id, session_id)
        return True

    async def _carries(self, session_id: str, change_id: str) -> bool:
        """A change of the answer in flight, or of a stored message; the snapshot first, since a final message
        is stored before its `new_message` leaves the snapshot."""
        streaming = (await self.event_log.snapshot(session_id, start=False)).streaming  # writes nothing
        if streaming is not None and any(c["change_id"] == change_id for c in streaming.changes):
            return True
        async with self.db() as db:
            return await carries_change(db, session_id, change_id)

    async def _release(self, session_id: str, change_id: str) -> None:
        try:
            await self.grants.release(session_id, change_id)
        except BrokerUnavailable:  # the change stays taken in Redis until its key expires
            logger.warning("could not release the unrecorded grant of change %s in session %s", change_id, session_id)
