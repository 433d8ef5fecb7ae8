"""A session's hosted documents as HTTP sees them (docs/protocol.md, "Collaborative documents").

With `"documents": "relay"`, `context.<name>` is not stored in the session's
context: it starts the document, reads back as the document's current text,
and a PATCH of it edits the document by the smallest edit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema.documents import MODES, NAMES, RELAY, text_of

from .broker.document_edit import current, edit_text
from .broker.documents import DocumentBus
from .errors import bad_request


def mode_of(documents: Any) -> str:
    if documents is None:
        return MODES[0]
    if documents not in MODES:
        raise bad_request(f"documents must be one of {', '.join(MODES)}")
    return str(documents)


def split_context(context: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(what the session row keeps, the documents' texts) of a relay session's context."""
    texts = {name: context[name] for name in NAMES if name in context}
    for name, text in texts.items():
        if not isinstance(text, str):
            raise bad_request(f"context.{name} must be a string (the document's text)")
    return {key: value for key, value in context.items() if key not in texts}, texts


async def edit_documents(
    bus: DocumentBus, db: async_sessionmaker[AsyncSession], session_id: str, texts: dict[str, str]
) -> None:
    for name, text in texts.items():
        await edit_text(bus, db, session_id, name, text)


async def with_texts(bus: DocumentBus, db: async_sessionmaker[AsyncSession], session: dict[str, Any]) -> dict[str, Any]:
    """The session with its documents' current texts in `context` (a relay session; others as they are)."""
    if session.get("documents") != RELAY:
        return session
    texts = {name: text_of(await current(bus, db, session["id"], name)) for name in NAMES}
    return {**session, "context": {**session["context"], **texts}}
