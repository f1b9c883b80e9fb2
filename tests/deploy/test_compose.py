"""docker-compose.yml is valid and wired the way ARCHITECTURE.md says, without a Docker engine.

- `docker-compose config -q` (Debian's docker-compose v1 package) validates the file against
  the Compose schema and resolves anchors/interpolation; skipped only when the binary is absent.
- Our own structural rules, checked on the YAML as parsed (anchors and merge keys resolved by
  PyYAML, `${VAR:-default}` interpolated with the defaults).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

# service name in compose -> its web port (requests' package is `demandes`, the service is `requests`)
SERVICES = {"identity": 8001, "booking": 8002, "billing": 8003, "requests": 8004, "notify": 8005}
# Who owns a database (the gateway keeps one small table of its own).
DATABASE_OWNERS = {svc: (f"{svc}-migrate", f"{svc}-web", f"{svc}-worker") for svc in SERVICES} | {
    "gateway": ("gateway-migrate", "gateway")}
DATABASE_OWNERS["identity"] += ("identity-setup", "identity-seed", "mesfactures-setup")  # identity's one-shot commands
# One-shot containers running another component's image (the portal's client registered by identity).
IMAGE_OF = {"mesfactures-setup": "identity"}
BACKING = {"postgres", "rabbitmq"}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str) -> str:
    """Replace ${VAR}, ${VAR:-default} and ${VAR-default} the way compose does, using the
    defaults only (the test must not depend on the caller's environment)."""
    def repl(m: re.Match) -> str:
        op, default = m.group(2), m.group(3)
        if op in (":-", "-"):
            return default
        pytest.fail(f"${{{m.group(1)}}} has no default: the stack would not start without setup")
    return INTERPOLATION.sub(repl, text.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def raw() -> str:
    return COMPOSE.read_text()


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    return yaml.safe_load(interpolate(raw))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(svc: dict) -> dict:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def depends_on(svc: dict) -> dict:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):  # short syntax means "service_started"
        return {d: {"condition": "service_started"} for d in deps}
    return deps


def is_one_shot(name: str) -> bool:
    return name.endswith(("-migrate", "-setup", "-seed"))


# ------------------------------------------------------------------------- docker-compose

def test_docker_compose_config_accepts_the_file():
    binary = shutil.which("docker-compose") or ("/usr/bin/docker-compose" if Path("/usr/bin/docker-compose").exists() else None)
    if binary is None:
        pytest.skip("docker-compose binary not installed (scripts/install-system-deps.sh installs it); "
                    "the structural checks below still run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    result = subprocess.run([binary, "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"docker-compose config rejected the file:\n{result.stderr}"


# ------------------------------------------------------------------------- topology

def test_every_process_of_the_platform_is_there(services):
    expected = set(BACKING) | {"gateway", "gateway-migrate", "mailcatcher"}
    for svc in SERVICES:
        expected |= {f"{svc}-migrate", f"{svc}-web", f"{svc}-worker"}
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"


def test_commands_are_the_service_cli(services):
    for svc in SERVICES:
        for kind in ("migrate", "web", "worker"):
            assert services[f"{svc}-{kind}"]["command"] == [kind], f"{svc}-{kind}"
    assert services["gateway"]["command"] == ["web"]
    assert services["gateway-migrate"]["command"] == ["migrate"]


def test_images_come_from_the_shared_dockerfile(services):
    for name, svc in services.items():
        if name in BACKING:
            continue
        build = svc.get("build")
        assert build, f"{name} has no build section"
        assert build["dockerfile"] == "deploy/Dockerfile" and build["context"] == "."
        component = IMAGE_OF.get(name) or (name.rsplit("-", 1)[0] if "-" in name else name)
        assert build["args"]["SERVICE"] == component, name
        assert svc["image"].startswith(f"espace-famille/{component}:"), name
    assert (ROOT / "deploy" / "Dockerfile").is_file()


# ------------------------------------------------------------------------- health and start-up

def test_every_long_running_service_has_a_healthcheck(services):
    for name, svc in services.items():
        if is_one_shot(name):
            assert "healthcheck" not in svc or svc["healthcheck"].get("disable"), name
            continue
        hc = svc.get("healthcheck")
        assert hc and not hc.get("disable"), f"{name} has no healthcheck"
        assert hc["test"] and hc["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "retries"):
            assert key in hc, f"{name} healthcheck lacks {key}"


def test_web_health_probes_readiness_on_the_service_port(services):
    for svc, port in SERVICES.items():
        test = " ".join(services[f"{svc}-web"]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/health/ready" in test, svc
        assert env_of(services[f"{svc}-web"])["BIND"] == f"0.0.0.0:{port}", svc
    assert "127.0.0.1:8000/health/ready" in " ".join(services["gateway"]["healthcheck"]["test"])
    assert env_of(services["gateway"])["BIND"] == "0.0.0.0:8000"


def test_web_and_worker_wait_for_their_migration_and_healthy_backing_services(services):
    for svc in SERVICES:
        for kind in ("web", "worker"):
            deps = depends_on(services[f"{svc}-{kind}"])
            assert deps.get(f"{svc}-migrate", {}).get("condition") == "service_completed_successfully", \
                f"{svc}-{kind} does not wait for {svc}-migrate to complete"
            for backing in BACKING:
                assert deps.get(backing, {}).get("condition") == "service_healthy", \
                    f"{svc}-{kind} does not wait for {backing} to be healthy"
        migrate_deps = depends_on(services[f"{svc}-migrate"])
        assert migrate_deps.get("postgres", {}).get("condition") == "service_healthy", f"{svc}-migrate"


def test_gateway_waits_for_its_migration_and_every_web_to_be_healthy(services):
    deps = depends_on(services["gateway"])
    assert deps.get("gateway-migrate", {}).get("condition") == "service_completed_successfully"
    for svc in SERVICES:
        assert deps.get(f"{svc}-web", {}).get("condition") == "service_healthy", svc


def test_every_dependency_exists_and_no_one_waits_on_itself(services):
    for name, svc in services.items():
        for dep, spec in depends_on(svc).items():
            assert dep in services and dep != name, f"{name} -> {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} health but it has none"
            if spec["condition"] == "service_completed_successfully":
                assert is_one_shot(dep), f"{name} waits for long-running {dep} to complete"


def test_restart_policies(services):
    for name, svc in services.items():
        if is_one_shot(name):
            assert str(svc.get("restart", "no")) == "no", f"one-shot {name} must not restart"
        else:
            assert svc.get("restart") in ("unless-stopped", "always"), f"{name} has no restart policy"


# ------------------------------------------------------------------------- configuration

def test_each_service_has_its_own_database(services):
    seen: dict[tuple, str] = {}
    for owner, containers in DATABASE_OWNERS.items():
        urls = {env_of(services[c]).get("DATABASE_URL") for c in containers}
        assert len(urls) == 1 and None not in urls, f"{owner}: {containers} disagree on DATABASE_URL: {urls}"
        url = urlsplit(urls.pop())
        assert url.scheme.startswith("postgresql"), owner
        assert url.hostname == "postgres", owner
        database, user = url.path.lstrip("/"), url.username
        assert database == owner and user == owner, f"{owner} uses database {database!r} as {user!r}"
        key = (url.hostname, database)
        assert key not in seen, f"{owner} shares database {database} with {seen.get(key)}"
        seen[key] = owner
    for name, svc in services.items():
        if not any(name in containers for containers in DATABASE_OWNERS.values()):
            assert "DATABASE_URL" not in env_of(svc), f"{name} must not get a database"


def test_postgres_init_creates_every_service_database(services):
    volumes = " ".join(services["postgres"]["volumes"])
    assert "/docker-entrypoint-initdb.d/" in volumes
    mounted = re.search(r"\./(deploy/postgres/[^:]+):/docker-entrypoint-initdb\.d/", volumes).group(1)
    script = (ROOT / mounted).read_text()
    loop = re.search(r"for service in ([a-z ]+); do", script)
    assert loop and set(loop.group(1).split()) == set(DATABASE_OWNERS)
    env = env_of(services["postgres"])
    for owner, containers in DATABASE_OWNERS.items():
        password = urlsplit(env_of(services[containers[0]])["DATABASE_URL"]).password
        assert env[f"{owner.upper()}_DB_PASSWORD"] == password, f"{owner} password differs from the one postgres gets"
    db = re.search(r"psql -h 127\.0\.0\.1 .*-d (\w+)", " ".join(services["postgres"]["healthcheck"]["test"])).group(1)
    assert db == loop.group(1).split()[-1], "postgres turns healthy before the last database is created"


def test_all_processes_share_one_broker_vhost_with_the_configured_user(services):
    rabbit = env_of(services["rabbitmq"])
    expected = (f"amqp://{rabbit['RABBITMQ_DEFAULT_USER']}:{rabbit['RABBITMQ_DEFAULT_PASS']}"
                f"@rabbitmq:5672/{rabbit['RABBITMQ_DEFAULT_VHOST']}")
    for name, svc in services.items():
        if name not in BACKING | {"mailcatcher", "fakebank", "mesfactures"}:  # dev tools and the portal use no broker
            assert env_of(svc).get("AMQP_URL") == expected, name


def test_mail_catcher_is_reachable_from_the_other_containers(services):
    catcher = services["mailcatcher"]
    assert env_of(catcher).get("MAILCATCHER_HOST") == "0.0.0.0", "it would listen on its own loopback only"
    test = " ".join(catcher["healthcheck"]["test"])
    assert "smtp 127.0.0.1:1025" in test and "127.0.0.1:1080/health/live" in test
    for name in ("notify-web", "notify-worker"):
        env = env_of(services[name])
        assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailcatcher", "1025"), name
    assert env_of(services["gateway"])["MAILCATCHER_URL"] == "http://mailcatcher:1080"


def test_gateway_reaches_services_by_their_compose_names(services):
    env = env_of(services["gateway"])
    for svc, port in SERVICES.items():
        assert env[f"{svc.upper()}_URL"] == f"http://{svc}-web:{port}"
    assert env["OIDC_ISSUER"] == env["PUBLIC_URL"].rstrip("/") + "/oidc"
    assert env["GATEWAY_SECRET_KEY"]


def test_secrets_default_to_values_marked_dev_only(raw):
    secret_like = re.compile(r"(PASSWORD|SECRET|_PASS)\b")
    for m in INTERPOLATION.finditer(raw):
        name, default = m.group(1), m.group(3) or ""
        if secret_like.search(name):
            assert default.startswith("dev-only-"), f"{name} default {default!r} is not marked dev-only"
    # and no secret is hard-coded outside an overridable ${VAR:-...}
    for line in raw.splitlines():
        m = re.match(r"\s*([A-Z_]*(?:PASSWORD|SECRET[A-Z_]*|_PASS)):\s*(.+)$", line)
        if m:
            assert m.group(2).startswith("${"), f"hard-coded secret: {line.strip()}"


def test_no_two_services_publish_the_same_host_port(services):
    published: dict[str, str] = {}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            spec = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}:{port['target']}"
            parts = spec.split(":")
            host_port = parts[-2] if len(parts) >= 2 else parts[0]
            assert host_port not in published, f"{name} and {published[host_port]} both publish {host_port}"
            published[host_port] = name
            if len(parts) == 3:
                assert parts[0] == "127.0.0.1", f"{name} publishes {spec} beyond loopback"
    assert published.get("8000") == "gateway"


def test_only_the_gateway_and_dev_tools_are_published(services):
    for name, svc in services.items():
        if name.endswith(("-web", "-worker", "-migrate", "-setup", "-seed")) or name == "postgres":
            assert not svc.get("ports"), f"{name} must stay internal (reach it through the gateway)"


def test_every_variable_the_compose_file_uses_is_in_env_example(raw, services):
    documented = set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    interpolated = {m.group(1) for m in INTERPOLATION.finditer(raw)}
    app_env = set()
    for name, svc in services.items():
        if name not in BACKING:
            app_env |= set(env_of(svc))
    missing = sorted((interpolated | app_env) - documented)
    assert not missing, f"not in .env.example: {missing}"


def test_env_example_documents_every_variable_with_a_comment():
    lines = ENV_EXAMPLE.read_text().splitlines()
    names = []
    for i, line in enumerate(lines):
        m = re.match(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", line)
        if not m:
            continue
        names.append(m.group(1))
        previous = lines[i - 1].strip() if i else ""
        if previous.startswith("# ") and re.match(r"^#\s*[A-Z][A-Z0-9_]*=", previous):
            previous = lines[i - 2].strip()  # a commented example right after its comment
        assert previous.startswith("#") and len(previous) > 5, f"{m.group(1)} has no comment line"
    assert len(names) == len(set(names)), "a variable is listed twice"
    platform_vars = {"EF_ENV", "DATABASE_URL", "IDENTITY_DATABASE_URL", "BOOKING_DATABASE_URL",
                     "BILLING_DATABASE_URL", "REQUESTS_DATABASE_URL", "NOTIFY_DATABASE_URL", "AMQP_URL",
                     "SERVICE_TOKEN_SECRET", "PUBLIC_URL", "IDENTITY_URL", "BOOKING_URL", "BILLING_URL",
                     "REQUESTS_URL", "NOTIFY_URL", "SMTP_HOST", "SMTP_PORT", "MAILCATCHER_URL",
                     "OIDC_ISSUER", "GATEWAY_SECRET_KEY", "LOG_LEVEL", "WEB_CONCURRENCY",
                     "GATEWAY_DATABASE_URL", "GATEWAY_OIDC_SECRET", "IDENTITY_SECRET_KEY"}
    assert platform_vars <= set(names), f"missing: {sorted(platform_vars - set(names))}"


# ------------------------------------------------------------------------- image

def test_dockerfile_runs_as_non_root_and_installs_from_the_repo():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    assert re.search(r"^ARG SERVICE$", text, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0")), "the final USER must not be root"
    assert "pip install ./libs/contracts ./libs/servicekit" in text
    for svc in SERVICES:
        assert svc in text
    ignore = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env"):
        assert entry in ignore, f".dockerignore lacks {entry}"


def test_gateway_client_is_registered_before_the_gateway_starts(services):
    setup = services["identity-setup"]
    command = setup["command"]
    assert command[:3] == ["ensure-client", "--client-id", "gateway"] and "--first-party" in command
    assert command[command.index("--backchannel-logout-uri") + 1] == "http://gateway:8000/auth/backchannel-logout"
    assert depends_on(setup)["identity-migrate"]["condition"] == "service_completed_successfully"
    assert depends_on(services["gateway"])["identity-setup"]["condition"] == "service_completed_successfully"
    # The demo seed is opt-in (profile), never part of a plain `up`.
    assert services["identity-seed"]["profiles"] == ["demo"] and services["identity-seed"]["command"] == ["seed-demo"]


def test_the_sibling_portal_is_registered_at_identity_then_runs_after_the_gateway(services):
    setup, portal = services["mesfactures-setup"], services["mesfactures"]
    command = setup["command"]
    assert command[:3] == ["ensure-client", "--client-id", "mesfactures"] and "--first-party" not in command
    assert command[command.index("--scopes") + 1] == "openid invoices:read"
    assert command[command.index("--backchannel-logout-uri") + 1] == "http://mesfactures:8010/auth/backchannel-logout"
    assert command[command.index("--redirect-uri") + 1] == "http://127.0.0.1:8010/auth/callback"
    assert command[command.index("--post-logout-redirect-uri") + 1] == "http://127.0.0.1:8010/"
    env = env_of(portal)
    assert env["MESFACTURES_CLIENT_SECRET"] == env_of(setup)["MESFACTURES_CLIENT_SECRET"]
    assert env["MESFACTURES_API_URL"] == env["MESFACTURES_PROVIDER_INTERNAL_URL"] == "http://gateway:8000"
    assert env["OIDC_ISSUER"] == env["PUBLIC_URL"] + "/oidc"
    assert depends_on(portal)["mesfactures-setup"]["condition"] == "service_completed_successfully"
    assert depends_on(portal)["gateway"]["condition"] == "service_healthy"
    assert "mesfactures" in (ROOT / "deploy" / "Dockerfile").read_text()
