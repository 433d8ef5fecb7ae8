"""`streamrelay serve | worker | dev | token | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from .log_redaction import configure_logging
from .settings import ConfigError, Settings, from_env

# `streamrelay dev` logs only what goes wrong: not alembic's start-up, each request, nor uvicorn's URL without a token
DEV_QUIET = ("alembic", "uvicorn.error", "uvicorn.access")


def serve(settings: Settings) -> None:
    import uvicorn

    from .app import create_app
    from .server import uvicorn_options

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **uvicorn_options(settings))  # type: ignore[arg-type]


async def migrate(settings: Settings) -> None:
    from schema.db import create_engine
    from schema.migrate import upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """asyncio.run on uvloop, as uvicorn serves the gateway."""
    import uvloop

    uvloop.run(main)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="streamrelay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gateway (Starlette + uvicorn)")
    commands.add_parser("worker", help="run a worker process")
    dev = commands.add_parser("dev", help="everything in one process: gateway, worker, demo upstream")
    dev.add_argument("--port", type=int, default=None)
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser(
        "rotate-credentials", help="re-encrypt every stored tenant secret with the newest CREDENTIALS_KEY"
    )
    token = commands.add_parser("token", help="mint a token")
    token.add_argument("--user", required=True)
    token.add_argument("--tenant", required=True)
    token.add_argument("--admin", action="store_true")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="seconds until it expires")
    token.add_argument("--name", help="the person's display name, shown to the others in the web app")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        if args.command == "dev":
            for chatty in DEV_QUIET:  # set before alembic is imported: it logs as it loads
                logging.getLogger(chatty).setLevel(logging.WARNING)
            from .dev import run_dev

            settings = from_env(dev=True)
            if args.port is not None:
                settings = settings.with_(port=args.port)
            asyncio.run(run_dev(settings))
        elif args.command == "token":
            from .auth import mint

            settings = from_env(dev=True)
            if settings.secret is None:
                raise ConfigError("RELAY_SECRET is required to mint tokens")
            role = "admin" if args.admin else "member"
            print(mint(settings.secret, args.user, args.tenant, role, args.ttl, name=args.name))
        elif args.command == "rotate-credentials":
            from .rotate import rotate_credentials

            settings = from_env(dev=True)
            if not settings.credentials.configured:
                raise ConfigError("CREDENTIALS_KEY is required to rotate credentials")
            rotated = asyncio.run(rotate_credentials(settings.database_url, settings.credentials))
            print(f"re-encrypted {rotated} secrets with the newest CREDENTIALS_KEY")
        elif args.command == "migrate":
            asyncio.run(migrate(from_env(dev=True)))
        elif args.command == "worker":
            from workers.main import run_worker

            run_fast(run_worker(from_env()))
        else:
            serve(from_env())
    except ConfigError as exc:
        print(f"streamrelay: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
