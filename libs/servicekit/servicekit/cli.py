"""The command line every service shares: `python -m <service> <command>`.

    migrate            apply Alembic migrations, then declare the worker's queues and bindings
                       on the broker (one-shot; run before web and worker; --database-only)
    web                serve the HTTP API with gunicorn (BIND, WEB_CONCURRENCY, DB_THREADS)
    worker             run the outbox relay, event consumers and scheduled jobs
    dlq list|replay    inspect (a page at a time) and replay dead-lettered events
    outbox status|parked|replay-parked
                       the outbox's state; events the relay parked, and sending them again
    makemigration MSG  autogenerate a migration (development)
    wait-queues        wait until every consumer queue named in EF_PLATFORM_QUEUES exists
                       (a worker's start gate where nothing orders it after the migrations: k8s)

Services add their own commands (e.g. identity's `seed-demo`) through `extra_modules`.

Everything is named by import path ("booking.app:create_app") and imported only by the process
that runs it: the gunicorn master does not load the web stack (its workers do), a worker does
not load connexion or Flask, and `web` does not load Alembic. Memory: bench/idle_memory.py.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from servicekit import gcfreeze, logs
from servicekit.settings import ServiceSettings

BUILTIN_COMMANDS = ("migrate", "web", "worker", "makemigration", "dlq", "outbox", "wait-queues")


@dataclass
class ServiceCommands:
    name: str                       # service name, e.g. "booking"
    default_port: int
    load_settings: Callable[[], ServiceSettings]
    migrations_dir: Path
    app_factory: str                # "pkg.module:function" returning the ASGI (connexion) app
    worker_factory: str | None = None   # "pkg.module:function" returning a servicekit Worker
    # Modules with a COMMANDS dict: name -> (help, configure(parser), run(args) -> int | None)
    extra_modules: tuple[str, ...] = ()

    @classmethod
    def for_package(cls, package: str, name: str, default_port: int, load_settings: Callable[[], ServiceSettings],
                    extra_modules: tuple[str, ...] = (), worker: bool = True) -> "ServiceCommands":
        """By the layout every service follows: `<package>.app:create_app`,
        `<package>.worker:create_worker`, migrations beside the package."""
        origin = importlib.util.find_spec(package).origin
        return cls(name=name, default_port=default_port, load_settings=load_settings,
                   migrations_dir=Path(origin).resolve().parent.parent / "migrations",
                   app_factory=f"{package}.app:create_app",
                   worker_factory=f"{package}.worker:create_worker" if worker else None,
                   extra_modules=extra_modules)

    def extra(self) -> dict[str, tuple[str, Callable, Callable]]:
        commands: dict = {}
        for module in self.extra_modules:
            commands.update(importlib.import_module(module).COMMANDS)
        return commands


def load_object(path: str):
    """"pkg.module:name" -> the object."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def main(spec: ServiceCommands, argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Service-specific commands are imported only when one of them (or --help) is asked for.
    extra = spec.extra() if not argv or argv[0] not in BUILTIN_COMMANDS else {}
    parser = argparse.ArgumentParser(prog=f"python -m {spec.app_factory.split('.')[0]}")
    sub = parser.add_subparsers(dest="command", required=True)
    migrate = sub.add_parser("migrate", help="apply database migrations and declare the consumer queues")
    migrate.add_argument("--database-only", action="store_true",
                         help="only the database (the queues are then declared when the worker starts)")
    sub.add_parser("web", help="serve the HTTP API")
    sub.add_parser("worker", help="run relay, consumers and jobs")
    mk = sub.add_parser("makemigration", help="autogenerate a migration")
    mk.add_argument("message")
    dlq = sub.add_parser("dlq", help="dead letters")
    dlq.add_argument("dlq_args", nargs=argparse.REMAINDER)
    outbox = sub.add_parser("outbox", help="outbox state and parked events")
    outbox.add_argument("outbox_args", nargs=argparse.REMAINDER)
    wait = sub.add_parser("wait-queues", help="wait until the platform's consumer queues exist")
    wait.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    for name, (help_, configure, _run) in extra.items():
        configure(sub.add_parser(name, help=help_))
    args = parser.parse_args(argv)

    settings = spec.load_settings()
    logs.configure(spec.name, settings.log_level, settings.log_format)
    if args.command in ("migrate", "makemigration"):
        from servicekit import migrations
    if args.command == "migrate":
        migrations.upgrade(spec.migrations_dir, settings.database_url)
        if args.database_only or spec.worker_factory is None:
            return 0
        return declare_queues(spec, settings)
    if args.command == "wait-queues":
        from servicekit.messaging import queue_wait

        return queue_wait.main(settings.amqp_url, os.environ.get(queue_wait.ENV), args.timeout)
    if args.command == "makemigration":
        migrations.upgrade(spec.migrations_dir, settings.database_url)
        migrations.revision(spec.migrations_dir, settings.database_url, args.message)
        return 0
    if args.command == "web":
        serve(spec.app_factory, default_bind=f"127.0.0.1:{spec.default_port}")
        return 0
    if args.command == "worker":
        if spec.worker_factory is None:
            print(f"{spec.name} has no worker", file=sys.stderr)
            return 2
        load_object(spec.worker_factory)().run()
        return 0
    if args.command == "dlq":
        from servicekit.messaging import dlq as dlq_cli

        # The worker is built only to learn its consumer queues (nothing is started).
        queues = load_object(spec.worker_factory)().queues if spec.worker_factory else []
        return dlq_cli.main(args.dlq_args, settings, queues)
    if args.command == "outbox":
        if spec.worker_factory is None:  # no worker, no relay: nothing writes an outbox
            print(f"{spec.name} has no outbox", file=sys.stderr)
            return 2
        from servicekit.db import Database
        from servicekit.messaging import parking

        return parking.main(args.outbox_args, settings, Database(settings.database_url))
    _help, _configure, run = extra[args.command]
    return run(args) or 0


def declare_queues(spec: ServiceCommands, settings: ServiceSettings) -> int:
    """The consumers' queues and bindings, declared at deployment (Worker.declare_queues): an
    event published before this service's worker first runs waits in its queue."""
    from servicekit.messaging.broker import BROKER_ERRORS

    worker = load_object(spec.worker_factory)()  # built to learn its handlers; nothing is started
    try:
        queues = worker.declare_queues()
    except BROKER_ERRORS as exc:
        print(f"{spec.name} migrate: the database is migrated, but RabbitMQ did not answer "
              f"({type(exc).__name__}: {exc}), so the consumer queues are not declared: events published "
              f"before this worker starts would not reach it. Run `migrate` again once the broker is up "
              f"(or `migrate --database-only`).", file=sys.stderr)
        return 1
    if queues:
        print(f"{spec.name} migrate: {len(queues)} consumer queue(s) declared")
    return 0


def serve(app_factory: str, default_bind: str) -> None:
    """Run an ASGI app factory ("pkg.module:function") under gunicorn with uvicorn workers;
    each worker process imports and builds the app (the master never does), then freezes the
    garbage collector's view of it (servicekit.gcfreeze)."""
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", os.environ.get("BIND", default_bind))
            self.cfg.set("workers", int(os.environ.get("WEB_CONCURRENCY", "2")))
            self.cfg.set("worker_class", "uvicorn_worker.UvicornWorker")
            self.cfg.set("graceful_timeout", 20)
            self.cfg.set("timeout", 60)
            self.cfg.set("keepalive", 5)

        def load(self):
            app = load_object(app_factory)()
            gcfreeze.freeze_what_is_alive()
            return app

    _Gunicorn().run()
