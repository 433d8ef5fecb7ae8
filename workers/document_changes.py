"""The assistant's changes applied by the relay to a session's hosted documents (docs/protocol.md,
"Collaborative documents").

Here, in the worker that streams the answer, because only it sees every change
the moment it arrives, whether or not any tab is open. A `yaml` change goes into
`workflow_yaml`, a `code` change into `job_code`, in one transaction with the
smallest edit. That edit is made on the document as the assistant saw it (read
when the generation started, then changed only by the assistant's own changes),
so that what people typed meanwhile merges in as the concurrent edit it is and
survives. Exactly once per change id: the grants set decides (the change is
granted to the relay before `streaming_changes` is published, so that no tab can
claim it), with SQL's applied-changes table as its durable twin; another worker,
a takeover or the final message asking for the same id again is refused.
`code_edits` stay for a person to apply (Accept).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pycrdt import Doc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.broker.document_edit import current, store_update
from relay.broker.documents import DocumentBus
from relay.broker.grant_store import Grants
from schema.documents import CHANGE_TARGETS, NAMES, RELAY, replace_text, text_of
from schema.models import AppliedChange

from .patience import patiently

logger = logging.getLogger(__name__)


class DocumentChanges:
    def __init__(
        self,
        session_id: str,
        grants: Grants,
        documents: DocumentBus,
        db: async_sessionmaker[AsyncSession],
        sql_turns: asyncio.Semaphore,
    ) -> None:
        self.sql_turns = sql_turns  # the worker's generations take turns at SQL (`workers.generation`)
        self.session_id = session_id
        self.grants = grants
        self.documents = documents
        self.db = db
        self.seen: dict[str, Doc] = {}  # each document as the assistant saw it; empty: not a relay session

    async def start(self, mode: str) -> dict[str, str]:
        """Read the session's hosted documents as the generation starts; their texts, for the context sent
        upstream ({} when the session's documents `mode`, read with the generation's start, is not the relay's)."""
        if mode != RELAY:
            return {}
        for name in NAMES:
            self.seen[name] = await patiently(
                f"read document {name}",
                lambda n=name: self._current(n),  # type: ignore[misc]
            )
        return {name: text_of(doc) for name, doc in self.seen.items()}

    async def _current(self, name: str) -> Doc:
        async with self.sql_turns:
            return await current(self.documents, self.db, self.session_id, name)

    async def grant(self, entry: dict[str, Any]) -> dict[str, str] | None:
        """{document name: new text} when the relay applies this change (and was granted it), else None."""
        changes = entry["changes"]
        targets = {CHANGE_TARGETS[kind]: text for kind, text in changes.items() if kind in CHANGE_TARGETS}
        if not self.seen or not targets or "code_edits" in changes:
            return None
        if not all(isinstance(text, str) for text in targets.values()):
            return None
        granted = await patiently(
            f"grant change {entry['change_id']}", lambda: self.grants.grant(self.session_id, entry["change_id"])
        )
        return targets if granted else None

    async def apply(self, change_id: str, targets: dict[str, str]) -> bool:
        """Edit the documents and record the change as applied by nobody (`user_id` null); False when SQL
        already held it applied (granted before Redis lost its keys)."""
        async with self.sql_turns, self.db() as db:
            if await db.get(AppliedChange, (self.session_id, change_id)) is not None:
                return False
        for name, text in targets.items():
            update = replace_text(self.seen[name], text)
            if update is not None:
                await patiently(
                    f"apply change {change_id}",
                    lambda n=name, u=update: self._store(n, u),  # type: ignore[misc]
                )
        try:
            async with self.sql_turns, self.db.begin() as db:
                db.add(AppliedChange(session_id=self.session_id, change_id=change_id, user_id=None))
        except IntegrityError:
            logger.warning("change %s of session %s was recorded meanwhile", change_id, self.session_id)
        return True

    async def _store(self, name: str, update: bytes) -> None:
        async with self.sql_turns:
            await store_update(self.documents, self.db, self.session_id, name, update)
