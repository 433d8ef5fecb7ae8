"""Logging that never writes a token: every line is redacted as a whole, after it is formatted.

Tokens travel in a WebSocket upgrade's query string (`?token=`, any case), in
`Authorization: Bearer` headers, and can turn up in a path or an exception's
text; whatever the spelling, a JWT's shape (`eyJ…` header, payload, signature)
gives it away. Redacting the formatted line covers the message, its arguments
and any traceback alike.
"""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
SECRETS = re.compile(
    r"(?i)(token=|authorization:\s*(?:\w+\s+)?|bearer\s+)[^&\s\"',;]+"  # a query parameter or a header's value
    r"|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"  # a JWT wherever it appears
)


def redact(text: str) -> str:
    return SECRETS.sub(lambda found: (found.group(1) or "") + REDACTED, text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging() -> None:
    """INFO and up to stderr, every line redacted (uvicorn's loggers included: `log_config` is None)."""
    logging.basicConfig(level=logging.INFO)
    formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
