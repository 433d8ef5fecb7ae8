"""Every Redis key and pub/sub topic name, in one place.

A session's keys share the `{ai_session:<id>}` hash tag so that they land in
the same Redis Cluster slot as each other; one Lua script can then append to
the log, update the snapshot and publish atomically.
"""

TOPIC_PREFIX = "ai_session:"
JOBS_STREAM = "relay:jobs"
JOBS_GROUP = "workers"


def topic(session_id: str) -> str:
    return f"{TOPIC_PREFIX}{session_id}"


def session_id_of(topic_name: str) -> str | None:
    if topic_name.startswith(TOPIC_PREFIX) and len(topic_name) > len(TOPIC_PREFIX):
        return topic_name[len(TOPIC_PREFIX) :]
    return None


def log_key(session_id: str) -> str:
    return f"{{{topic(session_id)}}}:log"


def live_key(session_id: str) -> str:
    return f"{{{topic(session_id)}}}:live"


def content_key(session_id: str) -> str:
    """The in-flight message's text so far: a string of its own, grown by APPEND (O(1) per chunk)."""
    return f"{{{topic(session_id)}}}:content"


def changes_key(session_id: str) -> str:
    """The in-flight message's early changes, concatenated msgpack maps grown by APPEND."""
    return f"{{{topic(session_id)}}}:changes"


def attachment_key(session_id: str) -> str:
    """The session's cached attachment (`EventLog.store_attachment`): the gateway's join page."""
    return f"{{{topic(session_id)}}}:page"


def session_keys(session_id: str) -> tuple[str, str, str, str]:
    """The publish script's keys, in its order: live hash, log, content, changes (one cluster slot)."""
    return live_key(session_id), log_key(session_id), content_key(session_id), changes_key(session_id)


def applied_key(session_id: str) -> str:
    return f"{{{topic(session_id)}}}:applied"


def expiring_keys(session_id: str) -> tuple[str, str]:
    """The session's keys besides the publish script's own that every event renews: attachment, grants."""
    return attachment_key(session_id), applied_key(session_id)


def presence_keys(session_id: str) -> tuple[str, str]:
    """A session's presence: a hash of tabs (phx_ref -> entry) and a sorted set of their expiries."""
    return f"{{{topic(session_id)}}}:presence", f"{{{topic(session_id)}}}:presence_expiry"


STOP_TOPIC = "relay:stop"  # a message id: stop its generation (kept, for a worker that had not yet started it)


def kept_key(topic_name: str, data: str) -> str:
    """Set when `data` is announced on a topic to be kept (`TopicBus.kept`): `relay:stop:<message id>`."""
    return f"{topic_name}:{data}"


SETTINGS_TOPIC = "relay:tenant_settings"  # a tenant id: its settings changed, drop them from every cache


def _user(tenant_id: str, user_id: str) -> str:
    """A user's part of a key: the tenant's length first, so that no two (tenant, user) pairs share it."""
    return f"{len(tenant_id)}:{tenant_id}:{user_id}"


def rate_key(bucket: str, tenant_id: str, user_id: str) -> str:
    """One user's token bucket (`write` or `document`): a hash of tokens left and when they were counted."""
    return f"relay:rate:{bucket}:{_user(tenant_id, user_id)}"


def sockets_key(tenant_id: str, user_id: str) -> str:
    """One user's open WebSockets on every gateway: a sorted set socket id -> expiry (ms, Redis's clock)."""
    return f"relay:sockets:{_user(tenant_id, user_id)}"


DOC_PREFIX = "doc:"  # `doc:<session_id>:<name>`: a hosted document's Phoenix topic and pub/sub channel


def doc_topic(session_id: str, name: str) -> str:
    return f"{DOC_PREFIX}{session_id}:{name}"


def doc_updates_key(topic_name: str) -> str:
    """A document's updates not yet folded into its stored state: a stream (see `relay.broker.documents`)."""
    return f"{{{topic_name}}}:updates"
