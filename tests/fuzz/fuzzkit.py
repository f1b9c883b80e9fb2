"""The platform the fuzz tests attack: every API of the repository, on real PostgreSQL.

Discovery (nothing to register when a service grows an API):
- every `services/<dir>/<package>/openapi.yaml` is a service: `<package>.app.create_app()` is
  built on a fresh, migrated PostgreSQL database (`<SERVICE>_DATABASE_URL`, SERVICE from
  `<package>.settings.SERVICE`; migrations from `services/<dir>/migrations`);
- the gateway (`gateway.app.create_app()`, its own database and migrations);
- each app is asked which OpenAPI documents connexion serves on it (its own spec and shared ones
  such as servicekit's families projection): every operation of every one is fuzzed, as soon as
  the spec declares it.

The apps are the real ASGI apps (servicekit's guard, connexion routing, security and validation,
the service's own code and database); requests go to them in-process. identity is also served
over HTTP on a free port so the gateway reaches it as in production (communes, JWKS).

Callers (tokens minted as the gateway mints them, for real accounts seeded through identity's
own API): an agent of commune A, a parent of a family of commune A, an agent of commune B, a
former agent (a valid token identity no longer backs), and nobody. The gateway gets identity-issued bearer access tokens instead (parent, agent, a token
without the API scope, a forged one, nobody).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import socket
import tempfile
import shutil
import threading
import uuid
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from servicekit import migrations, tokens
from servicekit.testing import create_pg_database, drop_pg_database, wait_until

ROOT = Path(__file__).resolve().parents[2]
SECRET = "fuzz-service-token-secret-0123456789abcdef"
PUBLIC_URL = "http://127.0.0.1:8000"
OIDC_ISSUER = PUBLIC_URL + "/oidc"
COMMUNE_A, COMMUNE_B = "fuzz-a", "fuzz-b"
NOBODY = "nobody"


@dataclass
class Api:
    """One OpenAPI document served by an app."""
    raw: dict
    title: str

    @property
    def has_operations(self) -> bool:
        return any(self.raw.get("paths") or {})


@dataclass
class Target:
    name: str                 # service name (token audience), e.g. "requests"
    package: str              # Python package, e.g. "demandes"
    migrations: Path
    database_url: str = ""
    app: Any = None
    apis: list[Api] = field(default_factory=list)
    # caller name -> Authorization header value (None: no header)
    authorizations: dict[str, str | None] = field(default_factory=dict)
    # path parameter name -> real values (seeded accounts, their family, children, links...)
    known: dict[str, list[str]] = field(default_factory=dict)

    def headers_for(self, caller: str, case=None) -> dict[str, str]:
        """The caller's Authorization header, unless the case itself tests a missing or invalid
        header (a negative case at the header location): then it is sent as generated."""
        from schemathesis.core.parameters import ParameterLocation

        if case is not None and case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
            return {}
        value = self.authorizations.get(caller)
        return {"Authorization": value} if value else {}

    def caller_for(self, case) -> str:
        """A caller chosen from the case itself: varied across cases, the same when Hypothesis
        replays or shrinks one (a random choice would make failures flaky)."""
        names = sorted(self.authorizations)
        return names[_case_hash(case) % len(names)]

    def with_known_values(self, case) -> None:
        """Half of the valid cases address real resources: their path parameters become seeded
        values (a random id is only ever a 404, which says nothing about the 200's schema)."""
        from schemathesis.core.parameters import ParameterLocation

        if not case.path_parameters or case.meta is None or case.meta.is_negative_at(ParameterLocation.PATH):
            return
        digest = _case_hash(case)
        if digest % 2:
            return
        for name in case.path_parameters:
            values = self.known.get(name)
            if values:
                case.path_parameters[name] = values[(digest // 2) % len(values)]


def _case_hash(case) -> int:
    key = repr((case.method, case.path_parameters, case.query, getattr(case, "body", None)))
    return zlib.crc32(key.encode("utf-8", "surrogatepass"))


def discover_services() -> list[Target]:
    targets = []
    for spec in sorted(ROOT.glob("services/*/*/openapi.yaml")):
        package = spec.parent.name
        service = importlib.import_module(f"{package}.settings").SERVICE
        targets.append(Target(service, package, spec.parent.parent / "migrations"))
    return targets


def served_apis(app) -> list[Api]:
    """The OpenAPI documents connexion serves on `app` (FlaskApp, AsyncApp or servicekit's ServiceApp)."""
    for candidate in (app, getattr(app, "api", None)):
        middleware = getattr(candidate, "middleware", None)
        if middleware is not None and hasattr(middleware, "apis"):
            return [Api(api.specification.raw, api.specification.raw.get("info", {}).get("title", "?"))
                    for api in middleware.apis]
    raise AssertionError(f"cannot find the connexion APIs of {app!r}")


def _clear_caches(*modules) -> None:
    for module in modules:
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == module.__name__:
                value.cache_clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """Every app on its own database, the seeded accounts and their tokens."""

    def __init__(self):
        self.services = discover_services()
        self.gateway = Target("gateway", "gateway", ROOT / "gateway" / "migrations")
        self.identity_port = _free_port()
        self._saved_env: dict[str, str | None] = {}
        self._server = None
        self._var_dir = tempfile.mkdtemp(prefix="fuzz-var-")
        self.seeded = False

    @property
    def targets(self) -> list[Target]:
        return [*self.services, self.gateway]

    def target(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)

    # --- build (at collection: the operations must be known to parametrize the tests) ----------
    def build(self) -> None:
        self._setenv(EF_ENV="test", EF_VAR_DIR=self._var_dir, SERVICE_TOKEN_SECRET=SECRET, PUBLIC_URL=PUBLIC_URL,
                     OIDC_ISSUER=OIDC_ISSUER, IDENTITY_URL=f"http://127.0.0.1:{self.identity_port}",
                     LOG_FORMAT="text", LOG_LEVEL="WARNING")
        for target in self.targets:
            target.database_url = create_pg_database(f"fuzz_{target.name}")
            migrations.upgrade(target.migrations, target.database_url)
            self._setenv(**{f"{target.name.upper()}_DATABASE_URL": target.database_url})
            _clear_caches(*[importlib.import_module(f"{target.package}.{m}") for m in ("settings", "db")
                            if importlib.util.find_spec(f"{target.package}.{m}")])
            target.app = importlib.import_module(f"{target.package}.app").create_app()
            target.apis = [api for api in served_apis(target.app) if api.has_operations]

    def _setenv(self, **values: str) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    # --- seed (once, before the first test) -------------------------------------------------------
    def seed(self) -> None:
        if self.seeded:
            return
        self.seeded = True
        from tests_fuzz_identity_seed import seed_identity  # noqa: PLC0415 (sys.path set by conftest)

        people = seed_identity(self.target("identity"))
        callers = {
            "agent": tokens.Caller(sub=people.agent_a, role="agent", commune=COMMUNE_A),
            "parent": tokens.Caller(sub=people.parent_sub, role="parent", family_id=people.family_id),
            "other_agent": tokens.Caller(sub=people.agent_b, role="agent", commune=COMMUNE_B),
            # A token the gateway could still hold for someone identity no longer has as agent.
            "former_agent": tokens.Caller(sub="fuzz-former-agent", role="agent", commune=COMMUNE_A),
        }
        events = identity_events(self.target("identity").database_url)
        for target in self.services:
            target.authorizations = {name: f"Bearer {tokens.mint(c, target.name, SECRET, ttl=3600)}"
                                     for name, c in callers.items()}
            target.authorizations[NOBODY] = None
            target.known = dict(people.known)
            if target.name != "identity":
                deliver(events, target)
        requests_service = next((t for t in self.services if t.name == "requests"), None)
        if requests_service is not None:
            from tests_fuzz_requests_seed import seed_requests  # noqa: PLC0415

            requests_service.known.update(seed_requests(requests_service, people, COMMUNE_A))
        notify = next((t for t in self.services if t.name == "notify"), None)
        if notify is not None:
            notify.known["notification_id"] = _ids(notify.database_url, "notifications")
        self._serve_identity()
        self.gateway.authorizations = {
            "parent": f"Bearer {people.parent_access_token}",
            "agent": f"Bearer {people.agent_access_token}",
            "no_api_scope": f"Bearer {people.profile_only_access_token}",
            "forged": "Bearer " + people.parent_access_token[:-8] + "AAAAAAAA",
            NOBODY: None,
        }

    def _serve_identity(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.target("identity").app, host="127.0.0.1", port=self.identity_port,
                                log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._server_thread = threading.Thread(target=self._server.run, name="fuzz-identity", daemon=True)
        self._server_thread.start()
        wait_until(lambda: self._server.started, timeout=20, message="identity did not start")

    # --- teardown ------------------------------------------------------------------------------
    def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server_thread.join(timeout=10)
        for target in self.targets:
            try:
                if target.app is not None and importlib.util.find_spec(f"{target.package}.db"):
                    importlib.import_module(f"{target.package}.db").get_db().dispose()
            except Exception as exc:  # noqa: BLE001 (the database is dropped below all the same)
                warnings.warn(f"fuzz: disposing of {target.name}'s database: {exc!r}", stacklevel=1)
            finally:
                if target.database_url:
                    drop_pg_database(target.database_url)  # WITH (FORCE): connections left are closed
        shutil.rmtree(self._var_dir, ignore_errors=True)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def identity_events(database_url: str) -> list:
    """Every event identity's seeding wrote to its outbox, in order."""
    from contracts.envelope import Envelope

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT body FROM outbox ORDER BY seq")).all()
    finally:
        engine.dispose()
    return [Envelope.model_validate_json(body) for (body,) in rows]


def deliver(events: list, target: Target) -> None:
    """What the broker would do: hand identity's events to the service's own consumers (its
    projections of families and agents, notify's e-mails), each in its own transaction."""
    worker = importlib.import_module(f"{target.package}.worker").create_worker()
    for envelope in events:
        for handler in worker.handlers:
            if handler.source == envelope.source and handler.event_type == envelope.type:
                with worker.db.transaction() as session:
                    handler.fn(session, envelope)


def _ids(database_url: str, table: str) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [str(i) for (i,) in conn.execute(sa.text(f"SELECT id FROM {table} ORDER BY id"))]
    finally:
        engine.dispose()


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.org"


def outbox_links(database_url: str, event_type: str) -> list[dict]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT body FROM outbox WHERE routing_key = :t ORDER BY seq"),
                                {"t": event_type}).all()
    finally:
        engine.dispose()
    return [json.loads(body)["data"] for (body,) in rows]


_PLATFORM: Platform | None = None


def platform() -> Platform:
    """The run's platform, built on first use (test collection needs its operations)."""
    global _PLATFORM
    if _PLATFORM is None:
        _PLATFORM = Platform()
        try:
            _PLATFORM.build()
        except BaseException:
            _PLATFORM.close()
            raise
    return _PLATFORM


def close_platform() -> None:
    global _PLATFORM
    if _PLATFORM is not None:
        _PLATFORM.close()
        _PLATFORM = None


# --- what the run did (printed at the end of the session) ------------------------------------------
STATUSES: dict[str, dict[int, int]] = {}


def record_response(target: str, status: int) -> None:
    counts = STATUSES.setdefault(target, {})
    counts[status] = counts.get(status, 0) + 1


def summary() -> list[str]:
    lines = []
    for target, counts in sorted(STATUSES.items()):
        total = sum(counts.values())
        spread = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        lines.append(f"{target}: {total} requests ({spread})")
    return lines
