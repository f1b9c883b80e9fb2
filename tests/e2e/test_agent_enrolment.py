"""A new agent sets up their second factor through the link e-mailed to them, never with the
password alone: operator command → sign-in page → notify's e-mail (mail catcher) → the link's
page through the gateway → sign-in with password and code → the agent space."""
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyotp

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "une girafe mange des myrtilles"


def code_of_a_new_step(secret: str, after_step: int | None = None) -> tuple[str, int]:
    """A TOTP code of a time step later than `after_step` (identity accepts each step once)."""
    totp = pyotp.TOTP(secret)
    step = int(time.time() // totp.interval)
    if after_step is not None and step <= after_step:
        time.sleep((after_step + 1) * totp.interval - time.time() + 0.2)
        step = after_step + 1
    return totp.at(step * totp.interval), step


def identity_database_url(platform) -> str:
    if os.environ.get("EF_E2E_DB") == "postgres":
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/ef_e2e_{os.getpid()}_identity"
    return f"sqlite:///{(platform.var_dir / 'identity.db').resolve()}"


def add_agent(platform, email: str) -> None:
    env = dict(os.environ, EF_ENV="development", IDENTITY_DATABASE_URL=identity_database_url(platform),
               E2E_AGENT_PASSWORD=PASSWORD, LOG_LEVEL="WARNING")
    out = subprocess.run([sys.executable, "-m", "identity", "add-agent", "--commune", "heillecourt", "--email", email,
                          "--password-env", "E2E_AGENT_PASSWORD"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_new_agent_enrols_through_the_emailed_link(platform, page, mails, a11y, identity_login):
    email = f"agent.{uuid.uuid4().hex[:8]}@example.org"
    add_agent(platform, email)

    page.goto(f"{platform.base_url}/auth/login?next=/agent/familles")
    identity_login(page, email, PASSWORD)
    page.wait_for_load_state()
    assert "nous venons d'envoyer un lien" in page.content()
    assert "otpauth://" not in page.content()  # the password alone shows no secret
    a11y(page)

    message = mails.wait_for(email, "double authentification")
    [link] = [u for u in mails.links(message) if "/oidc/login/totp/enrol/" in u]
    page.goto(link)
    a11y(page)
    secret = re.sub(r"\s", "", page.locator("#totp-secret").inner_text())
    code, step = code_of_a_new_step(secret)
    page.locator("input[name=code]").fill(code)
    page.get_by_role("button", name="Activer la double authentification").click()
    page.wait_for_url(re.compile(r".*/oidc/login.*"))
    assert "La double authentification est activée" in page.content()

    page.goto(f"{platform.base_url}/auth/login?next=/agent/familles")
    identity_login(page, email, PASSWORD)
    page.wait_for_url(re.compile(r".*/oidc/login/totp.*"))
    page.locator("input[name=code]").fill(code_of_a_new_step(secret, after_step=step)[0])
    page.locator("main button[type=submit]").first.click()
    page.wait_for_url("**/agent/familles")
