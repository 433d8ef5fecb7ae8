"""y-protocols v1 messages, as y-websocket, y-phoenix-channel and y_ex frame them.

A message starts with a varuint type: 0 sync (then a sub-type: step 1, step 2,
update — handled by pycrdt's sync helpers), 1 awareness (a var-length awareness
update: a count, then per client its id, clock and state as JSON, "null" when
it left), 3 awareness query. Only what the relay must read is decoded here.
"""

from __future__ import annotations

from pycrdt import Decoder, create_awareness_message, write_message, write_var_uint

SYNC, AWARENESS, QUERY_AWARENESS = 0, 1, 3
QUERY_AWARENESS_MESSAGE = write_var_uint(QUERY_AWARENESS)


class MalformedMessage(ValueError):
    pass


def message_type(message: bytes) -> int:
    try:
        return Decoder(message).read_var_uint()
    except (IndexError, RuntimeError):
        raise MalformedMessage("the message has no type") from None


def awareness_clocks(message: bytes) -> dict[int, int]:
    """{client id: clock} of an awareness message (type 1), for the removal sent when its tab leaves."""
    try:
        decoder = Decoder(message)
        decoder.read_var_uint()  # the message type
        update = decoder.read_message()
        if update is None:
            raise MalformedMessage("the awareness message is empty")
        inner = Decoder(update)
        clocks = {}
        for _ in range(inner.read_var_uint()):
            client, clock = inner.read_var_uint(), inner.read_var_uint()
            if inner.read_message() is None:
                raise MalformedMessage("an awareness entry has no state")
            clocks[client] = clock
        return clocks
    except (IndexError, RuntimeError):
        raise MalformedMessage("the awareness message is cut short") from None


def awareness_removal(clocks: dict[int, int]) -> bytes:
    """The awareness message saying these clients left (state null, clock + 1), as y-websocket's server sends."""
    entries = [
        write_var_uint(client) + write_var_uint(clock + 1) + write_message(b"null") for client, clock in clocks.items()
    ]
    return create_awareness_message(write_var_uint(len(entries)) + b"".join(entries))
