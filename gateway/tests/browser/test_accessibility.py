"""axe-core checks of the gateway's own pages in headless Chromium (Debian's /usr/bin/chromium),
against the gateway started as `python -m gateway web` starts it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from helpers import closed_port
from servicekit.testing import wait_until

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")]


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory):
    var = tmp_path_factory.mktemp("gateway")
    port = closed_port()
    env = {**os.environ, "EF_ENV": "test", "EF_VAR_DIR": str(var), "DATABASE_URL": f"sqlite:///{var / 'gateway.db'}",
           "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "LOG_FORMAT": "text",
           "IDENTITY_URL": f"http://127.0.0.1:{closed_port()}"}
    env.pop("GATEWAY_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "gateway", "migrate"], env=env, check=True, cwd=var)
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "web"], env=env, cwd=var)
    base = f"http://127.0.0.1:{port}"

    def live():
        try:
            return requests.get(base + "/health/live", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(live, timeout=30, message="gateway did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.mark.parametrize("path, status", [
    ("/", 200), ("/accessibilite", 200), ("/mentions-legales", 200), ("/aide", 200),
    ("/nulle-part", 404), ("/auth/login", 503),
])
@pytest.mark.parametrize("viewport", [{"width": 375, "height": 812}, {"width": 1280, "height": 900}])
def test_page_has_no_axe_violations(gateway_url, browser, path, status, viewport):
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page(viewport=viewport)
    try:
        response = page.goto(gateway_url + path)
        assert response.status == status
        assert page.get_attribute("html", "lang") == "fr"
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
        assert results.violations_count == 0, results.generate_report()
        # no horizontal scrolling on a phone
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        page.close()


def test_skip_link_is_first_and_moves_to_content(gateway_url, browser):
    page = browser.new_page()
    try:
        page.goto(gateway_url + "/aide")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#contenu"
    finally:
        page.close()
