"""The gateway's one translation of failures into answers (`relay.errors`)."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from relay.broker.base import BrokerUnavailable
from relay.errors import translate


def test_a_pool_with_no_free_connection_is_answered_busy_not_database_unreachable() -> None:
    answer = translate(PoolTimeout("QueuePool limit of size 5 overflow 10 reached"))
    assert answer is not None
    assert (answer.status, answer.code) == (503, "unavailable")
    assert "database" not in answer.message and "busy" in answer.message


def test_an_unreachable_database_and_broker_are_named_as_such() -> None:
    database = translate(OperationalError("SELECT 1", {}, ConnectionRefusedError("refused")))
    broker = translate(BrokerUnavailable("connection refused"))
    assert database is not None and broker is not None
    assert "database" in database.message and "broker" in broker.message
    assert database.status == broker.status == 503


def test_a_bug_is_not_translated_into_an_answer() -> None:
    assert translate(KeyError("oops")) is None
