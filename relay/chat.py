"""Chat sessions as the gateway serves them, over HTTP and the channel alike.

Access checks, history, starting and stopping generations; changes are granted by `relay.grants`.
Errors are `relay.errors.ChatError`s that both transports translate: an HTTP
status and code, or a channel error reason.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from schema import events, keys, posting, usage
from schema.documents import RELAY
from schema.models import CANCELLED, PROCESSING, ChatMessage, ChatSession, message_dict, utcnow
from schema.store import HISTORY_LIMIT, UnknownMessage, applied_changes, recent_messages

from . import resend
from .auth import Claims
from .broker.base import BrokerUnavailable
from .broker.documents import DocumentBus
from .broker.ending import Ending, end_generation
from .broker.grant_store import Grants
from .broker.jobs import JobQueue
from .broker.log import EventLog
from .broker.topic_bus import TopicBus
from .context_size import checked_context
from .errors import ChatError, bad_request, busy, conflict, forbidden, not_found, usage_limit
from .grants import ChangeGrants
from .join_sql import session_and_history
from .session_documents import edit_documents, mode_of, split_context, with_texts
from .session_list import MAX_PAGE, session_page
from .tenants import Tenants, tenant_of

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 500  # as stored


class Chat:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        event_log: EventLog,
        jobs: JobQueue,
        topics: TopicBus,
        grants: Grants,
        tenants: Tenants,
        max_message_chars: int,
        documents: DocumentBus,
        context_max_bytes: int = 256 * 1024,
    ) -> None:
        self.documents = documents
        self.db = db
        self.event_log = event_log
        self.jobs = jobs
        self.topics = topics
        self.tenants = tenants
        self.max_message_chars = max_message_chars
        self.grants = ChangeGrants(db, event_log, grants)
        self.context_max_bytes = context_max_bytes
        self.engine: AsyncEngine = db.kw["bind"]  # an unqueued answer's failure is written on it (`schema.posting`)

    # sessions

    async def create_session(
        self, claims: Claims, title: Any = None, context: Any = None, documents: Any = None
    ) -> dict[str, Any]:
        if title is not None and not isinstance(title, str):
            raise bad_request("title must be a string")
        if title is not None and len(title) > MAX_TITLE_CHARS:
            raise bad_request(f"The title must be at most {MAX_TITLE_CHARS} characters.")
        mode, texts = mode_of(documents), {}
        if context is not None:
            if mode == RELAY and isinstance(context, dict):  # the documents' texts start the documents
                context, texts = split_context(context)
            checked_context(context, self.context_max_bytes)  # what stays in the context
        await self.tenants.require_assistant(claims)
        async with self.db.begin() as db:
            await tenant_of(db, claims)
            session = ChatSession(
                tenant_id=claims.tenant, user_id=claims.user, title=title or "", context=context or {}, documents=mode
            )
            db.add(session)
        await edit_documents(self.documents, self.db, session.id, texts)
        return session.to_dict()  # as stored: a relay session's texts are in its documents

    async def list_sessions(self, claims: Claims, whole_tenant: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        if not 1 <= limit <= MAX_PAGE:
            raise bad_request(f"limit must be a whole number from 1 to {MAX_PAGE}")
        async with self.db() as db:
            return await session_page(db, claims.tenant, None if whole_tenant else claims.user, limit)

    async def _session(self, db: AsyncSession, claims: Claims, session_id: str) -> ChatSession:
        session = await db.get(ChatSession, session_id)
        if session is None or session.tenant_id != claims.tenant:
            raise not_found()  # another tenant's session does not exist, as far as they know
        return session

    async def session(self, claims: Claims, session_id: str) -> dict[str, Any]:
        async with self.db() as db:
            found = await session_page(db, claims.tenant, None, 1, session_id)
        if not found:
            raise not_found()  # another tenant's session does not exist, as far as they know
        return await with_texts(self.documents, self.db, found[0])

    async def documents_mode(self, claims: Claims, session_id: str) -> str:
        """A document join's access check (as `check_access`); the session's `documents` mode."""
        await self.tenants.require_assistant(claims)
        async with self.db() as db:
            return (await self._session(db, claims, session_id)).documents

    async def check_access(self, claims: Claims, session_id: str) -> None:
        """Before a stream starts or a session gets Redis state: the assistant is on and the session is the
        caller's tenant's (one primary-key read)."""
        await self.tenants.require_assistant(claims)
        async with self.db() as db:
            await self._session(db, claims, session_id)

    async def update_session(self, claims: Claims, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """`PATCH`: title and/or context, if `revision` is still the session's; every tab hears of it."""
        revision = body.get("revision")
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise bad_request("revision must be the session's current revision, a whole number")
        if unknown := set(body) - {"title", "context", "revision"}:
            raise bad_request(f"a session has no field {sorted(unknown)[0]!r} to change")
        changes: dict[str, Any] = {}
        if "title" in body:
            if not isinstance(body["title"], str) or len(body["title"]) > 500:
                raise bad_request("title must be a string of at most 500 characters")
            changes["title"] = body["title"]
        if "context" in body and not isinstance(body["context"], dict):
            raise bad_request("context must be an object")
        texts: dict[str, str] = {}
        async with self.db.begin() as db:
            found = await self._session(db, claims, session_id)
            if "context" in body:
                changes["context"], texts = (
                    split_context(body["context"]) if found.documents == RELAY else (body["context"], {})
                )
                checked_context(changes["context"], self.context_max_bytes)
            won = await db.execute(
                update(ChatSession)
                .where(ChatSession.id == session_id, ChatSession.revision == revision)
                .values(**changes, revision=revision + 1, updated_at=utcnow())
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                raise conflict("the session was changed meanwhile: reload it and apply your change again")
        await edit_documents(self.documents, self.db, session_id, texts)  # each one smallest-edit transaction
        session = await self.session(claims, session_id)
        await self.event_log.publish(session_id, events.SESSION_UPDATED, "", {"session": session})
        return session

    async def deletable(self, claims: Claims, session_id: str) -> str | None:
        """Check that the caller may delete the session; returns its running generation's message id, if any."""
        async with self.db() as db:
            session = await self._session(db, claims, session_id)
            if session.user_id != claims.user and not claims.is_admin:
                raise forbidden("only the session's owner or a tenant admin may delete it")
            return await db.scalar(
                select(ChatMessage.id).where(ChatMessage.session_id == session_id, ChatMessage.status == PROCESSING)
            )

    async def delete_session(self, claims: Claims, session_id: str) -> None:
        """Delete the session and its messages (see `relay.deletion`: a running generation is ended first)."""
        async with self.db.begin() as db:
            await self._session(db, claims, session_id)
            await db.execute(delete(ChatSession).where(ChatSession.id == session_id))
        await self.event_log.publish(session_id, events.SESSION_DELETED, "", {"session_id": session_id})

    async def cancel(self, session_id: str, message_id: str) -> None:
        """End a generation whose worker did not (gone, or stuck) as `cancelled`, with what it had streamed."""
        partial, changes = (await self.event_log.snapshot(session_id)).streamed(message_id) or ("", [])
        await end_generation(  # announces nothing if its worker ended it after all
            self.db, message_id, Ending(CANCELLED, partial, changes=changes),
            lambda event, payload: self.event_log.publish(session_id, event, message_id, payload),
        )  # fmt: skip

    async def messages(
        self, claims: Claims, session_id: str, limit: int = HISTORY_LIMIT, before: str | None = None
    ) -> list[dict[str, Any]]:
        async with self.db() as db:
            await self._session(db, claims, session_id)
            try:
                return await recent_messages(db, session_id, limit, before)
            except UnknownMessage:
                raise bad_request("before must be a message id of this session") from None

    async def session_and_history(self, claims: Claims, session_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A join's access check and its reply's session and recent messages, refusing as `session` does."""
        async with self.db() as db:
            found = await session_and_history(db, claims.tenant, session_id)
        if found is None:
            raise not_found()
        return found

    # generations

    async def send_message(self, claims: Claims, session_id: str, content: Any, edit: Any = None) -> tuple[str, str]:
        """Save the user's message and a placeholder for the answer, then queue the generation; `edit`: the id
        of the session's last user message, which this one replaces with all after it (see `relay.resend`)."""
        if not isinstance(content, str) or not content.strip():
            raise bad_request("content must be a non-empty string")
        if len(content) > self.max_message_chars:
            raise ChatError("too_large", f"content exceeds {self.max_message_chars} characters", 413)
        if edit is not None and not isinstance(edit, str):
            raise bad_request("edit must be the id of the session's last user message")
        limit = await self.tenants.generation_limit(claims)  # cached: no SQL unless the cache is cold
        rows = posting.question_and_answer(session_id, claims.user, content, utcnow())
        removed: list[str] = []
        try:
            if edit is None:
                await posting.post_question(self.db, claims.tenant, rows, limit)
            else:
                removed = await self._replace_last(claims, session_id, edit, rows, limit)
        except posting.SessionNotFound:
            raise not_found() from None  # another tenant's session does not exist, as far as they know
        except posting.OverLimit as exc:
            raise usage_limit(usage.resets_at(str(exc)).isoformat()) from None
        except IntegrityError:
            raise busy() from None
        (question, answer), shown = rows, message_dict(SimpleNamespace(**rows[0]))
        await self._queue(claims, session_id, question["id"], answer["id"], removed, shown)
        return question["id"], answer["id"]

    async def _replace_last(
        self, claims: Claims, session_id: str, edit: str, rows: list[dict[str, Any]], limit: int | None
    ) -> list[str]:
        """An edit: the session's last user message and all after it removed, `rows` in their place."""
        async with self.db.begin() as db:
            await self._session(db, claims, session_id)
            await self.tenants.admit_generation(db, claims, limit)
            removed = (await resend.take_back(db, session_id, edit))[1]
            await (await db.connection()).execute(posting.INSERT_MESSAGE, rows)
        return removed

    async def regenerate(self, claims: Claims, session_id: str) -> tuple[str, str]:
        """A new answer to the session's last user message in place of the one after it (see `relay.resend`)."""
        limit = await self.tenants.generation_limit(claims)
        try:
            async with self.db.begin() as db:
                await self._session(db, claims, session_id)
                await self.tenants.admit_generation(db, claims, limit)
                question, removed = await resend.take_back(db, session_id)
                answer = resend.new_answer(claims, session_id, utcnow())
                db.add(answer)
        except IntegrityError:
            raise busy() from None
        await self._queue(claims, session_id, question.id, answer.id, removed)
        return question.id, answer.id

    async def _queue(self, claims: Claims, session_id: str, question_id: str, answer_id: str, removed: list[str],
                     question: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Tell every tab what changed in the history (removed messages, a new question), then queue the job
        (with the question's event where there is one: one round trip on a single Redis)."""
        job = dict(session_id=session_id, message_id=answer_id, user_message_id=question_id, tenant=claims.tenant)
        try:
            if removed:
                await self.event_log.publish(session_id, events.MESSAGES_DELETED, "", {"message_ids": removed})
            if question is None:
                await self.jobs.enqueue(job)
            else:
                event, shown = events.USER_MESSAGE, {"message": question}
                await self.event_log.publish_and_queue(self.jobs, session_id, event, question_id, shown, job)
        except BrokerUnavailable:
            await posting.fail_answer(self.engine, answer_id, posting.NOT_QUEUED)
            raise

    async def stop(self, claims: Claims, session_id: str) -> str | None:
        """Stop the running generation; returns its message id, None when nothing runs."""
        async with self.db() as db:
            await self._session(db, claims, session_id)
            running = await db.scalar(
                select(ChatMessage.id).where(ChatMessage.session_id == session_id, ChatMessage.status == PROCESSING)
            )
        if running is not None:
            await self.topics.announce(keys.STOP_TOPIC, running.encode(), keep=True)  # kept for a later worker
        return running

    async def wait_final(
        self, claims: Claims, session_id: str, message_id: str, poll_seconds: float = 0.5
    ) -> dict[str, Any]:
        """The message once its generation has ended, read from SQL (when its events were missed)."""
        while True:
            async with self.db() as db:
                await self._session(db, claims, session_id)
                message = await db.get(ChatMessage, message_id)
                if message is None or message.session_id != session_id:
                    raise not_found()
                if message.status != PROCESSING:
                    return message.to_dict(await applied_changes(db, session_id))
            await asyncio.sleep(poll_seconds)
