"""End-to-end harness: the platform started exactly as `make run` starts it, and a real browser.

Fixtures:
- `platform`: starts scripts/run_platform.py on its own ports (base 18000), var dir, broker vhost
  and SQLite files (the `make run` default), waits until the gateway reports every service ready; stops it at
  the end. Set EF_E2E_DB=postgres to run it on PostgreSQL instead.
- `mails`: reads the mail catcher (wait for a message to an address, extract links).
- `browser` / `page`: headless Debian Chromium driven by Playwright (never a downloaded browser).
- `a11y`: runs axe-core on the current page and fails on serious or critical violations.
- `identity_login(page, email, password)`, `sign_in_agent(page, email)`: identity's sign-in
  pages (through the gateway's /oidc/ proxy), with the demo agents' TOTP second factor.
"""
from __future__ import annotations

import os
import re
import time
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import requests

from servicekit.testing import create_vhost, delete_vhost, wait_until

ROOT = Path(__file__).resolve().parents[2]
PORT_BASE = int(os.environ.get("EF_E2E_PORT_BASE", "18000"))
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Shows the details of the gateway's /health and /metrics (the public gets a plain status).
OPERATOR_TOKEN = "e2e-operator-token-0123456789abcdef"
DEMO_AGENT_PASSWORD = "Demo-Agent-2026"
DEMO_AGENT_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@dataclass
class Platform:
    base_url: str
    mailcatcher_url: str
    var_dir: Path
    port_base: int

    def service_url(self, offset: int) -> str:
        return f"http://127.0.0.1:{self.port_base + offset}"


class Mails:
    def __init__(self, url: str):
        self.url = url

    def all(self) -> list[dict]:
        return requests.get(f"{self.url}/messages", timeout=5).json()

    def get(self, message_id: str) -> dict:
        return requests.get(f"{self.url}/messages/{message_id}", timeout=5).json()

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 30.0) -> dict:
        def find():
            for summary in self.all():
                recipients = summary.get("to") or []
                recipients = recipients if isinstance(recipients, list) else [recipients]
                if any(to.lower() in r.lower() for r in recipients) and subject_contains in summary.get("subject", ""):
                    return self.get(summary["id"])
            return None

        return wait_until(find, timeout, interval=0.3, message=f"an e-mail to {to} ({subject_contains!r})")

    @staticmethod
    def links(message: dict) -> list[str]:
        return re.findall(r"https?://[^\s<>\"']+", message.get("text") or "")


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("platform-var")
    log_path = var_dir / "platform.log"
    # Its own broker vhost: another platform on this machine (a `make run`) must not consume its events.
    vhost, amqp_url = create_vhost("e2e")
    # EF_DEMO_HISTORY=0: the journeys bill the demo family's past months themselves (no seeded invoices)
    env = dict(os.environ, EF_PG_PREFIX=f"ef_e2e_{os.getpid()}", AMQP_URL=amqp_url, OPERATOR_TOKEN=OPERATOR_TOKEN,
               EF_DEMO_HISTORY="0")
    cmd = [sys.executable, str(ROOT / "scripts" / "run_platform.py"), "run", "--port-base", str(PORT_BASE),
           "--var-dir", str(var_dir), "--db", os.environ.get("EF_E2E_DB", "sqlite")]
    log_file = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{PORT_BASE}"
    try:
        def ready():
            if proc.poll() is not None:
                raise RuntimeError(f"platform exited with {proc.returncode}")
            try:
                return requests.get(f"{base_url}/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_until(ready, timeout=120, interval=0.5, message="the platform to be ready")
        except (AssertionError, RuntimeError):
            print(log_path.read_text(errors='replace')[-20000:])
            raise
        yield Platform(base_url, f"http://127.0.0.1:{PORT_BASE + 80}", var_dir, PORT_BASE)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log_file.close()
        delete_vhost(vhost)
        if os.environ.get("EF_E2E_DB") == "postgres":
            _drop_databases(env["EF_PG_PREFIX"])


@pytest.fixture(scope="session")
def operator_headers() -> dict[str, str]:
    """What operators (and Prometheus) send to see the details of /health and /metrics."""
    return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def _drop_databases(prefix: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "_%",)).fetchall():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mails(platform) -> Mails:
    return Mails(platform.mailcatcher_url)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install-system` (scripts/install-system-deps.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})  # a phone first
    page = context.new_page()
    page.set_default_timeout(30000)  # generous: 2 cores run the whole platform
    yield page
    context.close()


@pytest.fixture
def a11y():
    """Call a11y(page) on every page a journey visits: no serious or critical axe violation."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def check(page):
        results = axe.run(page)
        bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
        assert not bad, f"accessibility violations on {page.url}:\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}" for v in bad)

    return check


# Identity accepts each TOTP code once per account: remember the time steps used in this run.
_used_totp_steps: set[tuple[str, int]] = set()


def fresh_totp_code(account: str, secret: str = DEMO_AGENT_TOTP_SECRET) -> str:
    """The current code, or the next one when this account already used the current one
    (waiting for the clock is the only way to a new code)."""
    totp = pyotp.TOTP(secret)
    step = int(time.time() // totp.interval)
    if (account, step) in _used_totp_steps:
        step += 1
        time.sleep(max(0.0, step * totp.interval - time.time() + 0.2))
    _used_totp_steps.add((account, step))
    return totp.at(step * totp.interval)


@pytest.fixture
def identity_login(a11y):
    def login(page, email: str, password: str) -> None:
        page.wait_for_url(re.compile(r".*/oidc/login.*"))
        a11y(page)
        page.locator("#email").fill(email)
        page.locator("#password").fill(password)
        page.get_by_role("button", name="Se connecter").click()

    return login


@pytest.fixture
def sign_in_agent(platform, a11y, identity_login):
    def sign_in(page, email: str = "agent.heillecourt@example.org") -> None:
        page.goto(f"{platform.base_url}/auth/login?next=/agent/familles")
        identity_login(page, email, DEMO_AGENT_PASSWORD)
        page.wait_for_url(re.compile(r".*/oidc/login/totp.*"))
        a11y(page)
        page.locator("input[name=code]").fill(fresh_totp_code(email))
        page.locator("main button[type=submit]").first.click()
        page.wait_for_url("**/agent/familles")

    return sign_in
