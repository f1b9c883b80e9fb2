"""The first thin journey, through real processes (issue 2):

an agent registers a family for Heillecourt through the gateway → identity stores it and emits
an event → notify renders a French activation e-mail (HTML + text) and sends it by SMTP → the
parent follows the link and lands on the gateway's activation page; notify's receipt flows back
to identity and the agent sees that the link was sent.
"""
import re
import uuid

from servicekit.testing import wait_until

def test_agent_registers_family_and_parent_reaches_activation_page(platform, mails, page, a11y, sign_in_agent):
    family = f"Durand-{uuid.uuid4().hex[:6]}"
    email = f"{family.lower()}@example.org"

    sign_in_agent(page)
    a11y(page)
    page.get_by_label("Nom de la famille").fill(family)
    page.get_by_label("E-mail du premier responsable").fill(email)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/agent/familles")) as posted:
        page.get_by_role("button", name="Inscrire la famille").click()
    correlation_id = posted.value.headers["x-correlation-id"]
    assert f"Un e-mail d'activation va être envoyé à {email}" in page.locator("main").inner_text()

    # notify rendered and sent a French e-mail, in both parts, with the link.
    mail = mails.wait_for(email, "Activez votre Espace Famille")
    assert "Heillecourt" in mail["subject"]
    assert f"la famille {family}" in mail["text"] and "valable jusqu’au" in mail["text"]
    assert mail["html"] and "<html" in mail["html"].lower() and 'lang="fr"' in mail["html"]
    links = [link for link in mails.links(mail) if "/activation/" in link]
    assert len(links) == 1 and links[0].startswith(platform.base_url)

    # notify's receipt reaches identity: the agent sees the link was sent.
    def sent_shown():
        page.goto(f"{platform.base_url}/agent/familles?q={family}")
        row = page.get_by_role("row", name=re.compile(family))
        return "Lien envoyé le" in row.inner_text()

    wait_until(sent_shown, timeout=30, interval=1.0, message="the agent to see 'Lien envoyé le'")

    # One correlation id follows the journey: gateway request -> identity -> event -> notify's log.
    def notify_logged_it():
        log = (platform.var_dir / "platform.log").read_text(errors="replace")
        return any(line.startswith(tuple("0123456789")) and "notify-worker" in line and "queued for event" in line
                   and f'"correlation_id": "{correlation_id}"' in line for line in log.splitlines())

    wait_until(notify_logged_it, timeout=30, interval=0.5, message="notify's log line with the journey's correlation id")

    # The parent follows the link (another browser) and lands on the activation page.
    parent = page.context.browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844}).new_page()
    parent.goto(links[0])
    assert "Informations profil (étape 1/2)" in parent.locator("main").inner_text()
    assert parent.get_by_label("Adresse e-mail").input_value() == email
    a11y(parent)
    parent.context.close()


def test_platform_health_aggregates_every_service(platform, operator_headers):
    import requests

    assert requests.get(f"{platform.base_url}/health", timeout=5).json() == {"status": "ok"}
    body = requests.get(f"{platform.base_url}/health", timeout=5, headers=operator_headers).json()
    assert body["status"] == "ok"
    assert set(body["services"]) == {"identity", "booking", "billing", "requests", "notify"}
    assert all(s["ready"] for s in body["services"].values())
