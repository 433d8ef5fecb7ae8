"""Redis in this process (fakeredis), so that the broker contract runs even where no `redis-server` does.

fakeredis speaks Redis's commands, streams and pub/sub, and runs Lua through lupa;
its Lua lacks Redis's `cmsgpack` library, whose one function the publish script
uses comes from `tests/lua/cmsgpack.lua`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fakeredis
import redis.asyncio as redis
from fakeredis import FakeAsyncRedis

LUA_PATH = f"{Path(__file__).with_name('lua')}/?.lua;;"
URL = "redis://fakeredis:6379/0"  # never dialled: every connection is to the in-process server


class FakeRedisServer:
    def __init__(self) -> None:
        os.environ["LUA_PATH"] = LUA_PATH  # read when the server's Lua runtime opens, on its first script
        self.server = fakeredis.FakeServer(version=(7, 4))
        self.url = URL

    def client_class(self) -> type[redis.Redis]:
        """A client class whose `from_url` connects to this server, as `RedisBroker(client_class=…)` takes."""
        server = self.server

        class Client(FakeAsyncRedis):
            @classmethod
            def from_url(cls, url: str, **options: Any) -> Client:
                options.pop("health_check_interval", None)  # fakeredis answers a health-check PING unlike Redis
                return super().from_url(url, server=server, lua_modules={"cmsgpack"}, **options)

        return Client
