"""Run the whole Espace Famille platform on one machine (what `make run` calls).

    python scripts/run_platform.py run   [--port-base 8000] [--var-dir var] [--db sqlite|postgres]
    python scripts/run_platform.py stop  [--var-dir var]

`run` checks that RabbitMQ (and PostgreSQL with --db postgres) answer, migrates every service,
seeds the demo commune, registers the OIDC clients of the gateway and of the sibling portal, then
starts every process (web and worker of each service, the gateway, the mail catcher, the simulated
bank, the portal "Mes factures en ligne") under honcho with one log stream, waits until the
gateway reports every service ready and the portal answers, and prints the URLs. Ctrl-C (or
`stop`) stops everything. The end-to-end tests start the platform with this same script.

The demo family's past (booked and marked days since the rentrée, September to last month
invoiced, all but last month paid) is seeded too unless `EF_DEMO_HISTORY=0` (the end-to-end tests
turn it off: their journeys bill the demo family's past months themselves).
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# name -> (python package, offset from the port base); the gateway has offset 0.
SERVICES = {
    "identity": ("identity", 1),
    "booking": ("booking", 2),
    "billing": ("billing", 3),
    "requests": ("demandes", 4),
    "notify": ("notify", 5),
}
MAIL_SMTP_OFFSET, MAIL_HTTP_OFFSET = 25, 80
FAKEBANK_OFFSET = 90  # the simulated bank (devtools/fakebank), billing's payment provider in development
MESFACTURES_OFFSET = 10  # the sibling portal "Mes factures en ligne" (examples/mesfactures)
SECRET_NAMES = ("SERVICE_TOKEN_SECRET", "GATEWAY_SECRET_KEY", "GATEWAY_OIDC_SECRET", "IDENTITY_SECRET_KEY",
                "MESFACTURES_CLIENT_SECRET", "MESFACTURES_SECRET_KEY")


def log(msg: str) -> None:
    print(f"[platform] {msg}", flush=True)


def load_secrets(var_dir: Path) -> dict[str, str]:
    """Development secrets, made once per var dir and kept (so sessions survive restarts)."""
    path = var_dir / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    missing = [name for name in SECRET_NAMES if not values.get(name)]
    if missing:
        values.update({name: secrets.token_urlsafe(48) for name in missing})
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return values


def build_env(args, var_dir: Path) -> dict[str, str]:
    base = args.port_base
    public = f"http://127.0.0.1:{base}"
    env = dict(os.environ)
    env.update(load_secrets(var_dir))
    env.update(
        EF_ENV="development",
        EF_VAR_DIR=str(var_dir),
        # Services deriving their own address from it (billing's notification URL for the bank).
        EF_PORT_BASE=str(base),
        PUBLIC_URL=public,
        OIDC_ISSUER=f"{public}/oidc",
        AMQP_URL=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(base + MAIL_SMTP_OFFSET),
        MAILCATCHER_SMTP_PORT=str(base + MAIL_SMTP_OFFSET),
        MAILCATCHER_HTTP_PORT=str(base + MAIL_HTTP_OFFSET),
        MAILCATCHER_URL=f"http://127.0.0.1:{base + MAIL_HTTP_OFFSET}",
        FAKEBANK_URL=f"http://127.0.0.1:{base + FAKEBANK_OFFSET}",
        # The sibling portal: its own address; identity (OIDC_ISSUER) and the API are the gateway's.
        MESFACTURES_PUBLIC_URL=f"http://127.0.0.1:{base + MESFACTURES_OFFSET}",
        MESFACTURES_CLIENT_ID="mesfactures",
        WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "1"),
        PYTHONUNBUFFERED="1",
    )
    for name, (_pkg, offset) in SERVICES.items():
        env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{base + offset}"
        env[f"{name.upper()}_DATABASE_URL"] = database_url(args, var_dir, name)
    env["GATEWAY_DATABASE_URL"] = database_url(args, var_dir, "gateway")
    env["GATEWAY_INTERNAL_URL"] = public  # where identity reaches the gateway (same host here)
    return env


def database_url(args, var_dir: Path, name: str) -> str:
    if args.db == "postgres":
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.pg_prefix}_{name}"
    return f"sqlite:///{(var_dir / f'{name}.db').resolve()}"


def check_broker(url: str) -> None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        sys.exit(
            f"RabbitMQ is not reachable at {url} ({exc}).\n"
            "Start one, then run `make run` again:\n"
            "  - Debian/Ubuntu: sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached\n"
            "  - Docker:        docker run -d --name rabbitmq -p 5672:5672 rabbitmq:3\n"
            "  - or point AMQP_URL at a running broker."
        )


def ensure_postgres_databases(args) -> None:
    import psycopg

    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True,
                               connect_timeout=3)
    except Exception as exc:
        sys.exit(f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc}). Start it or use --db sqlite.")
    with conn:
        for name in [*SERVICES, "gateway"]:
            db = f"{args.pg_prefix}_{name}"
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                conn.execute(f'CREATE DATABASE "{db}"')
                log(f"created database {db}")


def run_step(cmd: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(cmd, env=env, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"step failed ({result.returncode}): {' '.join(cmd)}")


def prepare(env: dict[str, str]) -> None:
    """Migrate every database, seed the demo commune, register the gateway's OIDC client."""
    for name, (pkg, _offset) in SERVICES.items():
        log(f"migrating {name}")
        run_step([PYTHON, "-m", pkg, "migrate"], env)
    if (ROOT / "gateway" / "migrations").is_dir():
        log("migrating gateway")
        run_step([PYTHON, "-m", "gateway", "migrate"], env)
    log("seeding the demo commune (Heillecourt)")
    run_step([PYTHON, "-m", "identity", "seed-demo"], env)
    history = ["--with-history"] if env.get("EF_DEMO_HISTORY", "1") != "0" else []  # the demo family's past
    run_step([PYTHON, "-m", "booking", "seed-demo", *history], env)  # catalogue; Léa and Hugo enrolled
    run_step([PYTHON, "-m", "demandes", "seed-demo"], env)  # request categories, document types, replies
    run_step([PYTHON, "-m", "billing", "seed-demo", *history], env)  # price grids, the demo QF; past invoices
    log("registering the gateway's OpenID Connect client")
    public = env["PUBLIC_URL"]
    run_step([PYTHON, "-m", "identity", "ensure-client", "--client-id", "gateway", "--name", "Espace Famille",
              "--secret-env", "GATEWAY_OIDC_SECRET", "--redirect-uri", f"{public}/auth/callback",
              "--post-logout-redirect-uri", f"{public}/",
              "--backchannel-logout-uri", f"{env['GATEWAY_INTERNAL_URL']}/auth/backchannel-logout", "--first-party"], env)
    log("registering the OpenID Connect client of the sibling portal Mes factures en ligne")
    portal = env["MESFACTURES_PUBLIC_URL"]
    run_step([PYTHON, "-m", "identity", "ensure-client", "--client-id", env["MESFACTURES_CLIENT_ID"],
              "--name", "Mes factures en ligne", "--secret-env", "MESFACTURES_CLIENT_SECRET",
              "--redirect-uri", f"{portal}/auth/callback", "--post-logout-redirect-uri", f"{portal}/",
              "--backchannel-logout-uri", f"{portal}/auth/backchannel-logout", "--scopes", "openid invoices:read"], env)


def procfile(args, env: dict[str, str]) -> str:
    base = args.port_base
    lines = [f"gateway: BIND=127.0.0.1:{base} {PYTHON} -m gateway web"]
    for name, (pkg, offset) in SERVICES.items():
        lines.append(f"{name}-web: BIND=127.0.0.1:{base + offset} {PYTHON} -m {pkg} web")
        lines.append(f"{name}-worker: {PYTHON} -m {pkg} worker")
    lines.append(f"mailcatcher: {PYTHON} -m mailcatcher")
    lines.append(f"fakebank: {PYTHON} -m fakebank --port {base + FAKEBANK_OFFSET}")
    lines.append(f"mesfactures: BIND=127.0.0.1:{base + MESFACTURES_OFFSET} {PYTHON} -m mesfactures web")
    return "\n".join(lines) + "\n"


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def banner(env: dict[str, str]) -> str:
    public = env["PUBLIC_URL"]
    return f"""
Espace Famille is running.
  Web UI (parents and agents)  {public}/
  Caught e-mails (dev only)    {public}/dev/mails
  Simulated bank (dev only)    {env['FAKEBANK_URL']}/
  Mes factures en ligne        {env['MESFACTURES_PUBLIC_URL']}/  (sibling portal: same account, single sign-on)
  Platform health              {public}/health
  OpenID Connect discovery     {env['OIDC_ISSUER']}/.well-known/openid-configuration
  Services (internal)          identity {env['IDENTITY_URL']}  booking {env['BOOKING_URL']}  billing {env['BILLING_URL']}
                               requests {env['REQUESTS_URL']}  notify {env['NOTIFY_URL']}
Demo accounts: see README.md ("Demo accounts"). Stop with Ctrl-C or `make stop`.
"""


def cmd_run(args) -> int:
    var_dir = Path(args.var_dir).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    env = build_env(args, var_dir)
    check_broker(env["AMQP_URL"])
    if args.db == "postgres":
        ensure_postgres_databases(args)
    prepare(env)
    (var_dir / "Procfile").write_text(procfile(args, env))
    proc = subprocess.Popen(
        [PYTHON, "-m", "honcho", "-f", str(var_dir / "Procfile"), "-d", str(ROOT), "start"],
        env=env, cwd=ROOT, start_new_session=True,
    )
    (var_dir / "platform.pid").write_text(str(proc.pid))

    def forward(signum, _frame):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    if wait_ready(f"{env['PUBLIC_URL']}/health", proc) and wait_ready(f"{env['MESFACTURES_PUBLIC_URL']}/health", proc):
        print(banner(env), flush=True)
    elif proc.poll() is None:
        log("the platform did not report ready in time: see the logs above")
    try:
        return proc.wait()
    finally:
        (var_dir / "platform.pid").unlink(missing_ok=True)


def cmd_stop(args) -> int:
    pid_file = Path(args.var_dir) / "platform.pid"
    if not pid_file.exists():
        log("not running")
        return 0
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        log(f"stopping (process group {pid})")
    except ProcessLookupError:
        log("not running")
    pid_file.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--port-base", type=int, default=int(os.environ.get("EF_PORT_BASE", "8000")))
    run.add_argument("--var-dir", default=os.environ.get("EF_VAR_DIR", str(ROOT / "var")))
    run.add_argument("--db", choices=("sqlite", "postgres"), default=os.environ.get("EF_DB", "sqlite"))
    run.add_argument("--pg-prefix", default=os.environ.get("EF_PG_PREFIX", "espace_famille"))
    stop = sub.add_parser("stop")
    stop.add_argument("--var-dir", default=os.environ.get("EF_VAR_DIR", str(ROOT / "var")))
    args = parser.parse_args(argv)
    return cmd_run(args) if args.command == "run" else cmd_stop(args)


if __name__ == "__main__":
    sys.exit(main())
