"""The job queue role: generation jobs, each taken by one worker until acknowledged."""

from __future__ import annotations

import abc
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    id: str
    fields: dict[str, str]


class JobQueue(abc.ABC):
    """Enqueue, take, acknowledge; keep taken jobs alive, take over those whose worker went silent."""

    @abc.abstractmethod
    async def enqueue(self, fields: dict[str, str]) -> str: ...

    @abc.abstractmethod
    async def take(self, consumer: str, count: int, block_seconds: float) -> list[Job]:
        """Up to `count` jobs nobody has taken, waiting up to `block_seconds` for one."""

    @abc.abstractmethod
    async def ack(self, job_id: str) -> None: ...

    @abc.abstractmethod
    async def keep_alive(self, consumer: str, job_ids: list[str]) -> None:
        """Mark jobs as still being worked on, so nobody takes them over."""

    @abc.abstractmethod
    async def take_over(self, consumer: str, min_idle_seconds: float, count: int) -> list[Job]:
        """Claim jobs whose worker went silent for `min_idle_seconds`."""

    @abc.abstractmethod
    async def counts(self) -> tuple[int, int]:
        """(waiting, pending) jobs."""
