"""The accounts the fuzz tests act as, made the way the platform makes them.

Communes and agents are written directly (an operator's job, no API for it) and announced with
identity's own `publish_all`; the family is registered by the agent and activated by the parent
through identity's internal API; the gateway's bearer tokens are access tokens identity signs
for a registered OIDC client. The events identity wrote on the way are then handed to every other
service's consumers (fuzzkit.deliver), so their projections know these people.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from servicekit import tokens

from fuzzkit import COMMUNE_A, COMMUNE_B, SECRET, outbox_links, unique_email

PASSWORD = "une girafe mange des myrtilles"
PROFILE = {"family_name": "Fuzz", "given_name": "Claire", "birth_date": "1985-04-12", "street": "3 rue des Lilas",
           "postcode": "54180", "city": "Heillecourt", "phone": "06 12 34 56 78"}


@dataclass
class People:
    agent_a: str
    agent_b: str
    parent_sub: str
    family_id: str
    parent_access_token: str
    agent_access_token: str
    profile_only_access_token: str
    # Real values for path parameters, by name (see fuzzkit.Target.with_known_values).
    known: dict[str, list[str]] = field(default_factory=dict)


def _bearer(caller: tokens.Caller) -> dict:
    return {"Authorization": f"Bearer {tokens.mint(caller, 'identity', SECRET)}"}


def _ok(response, status=200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def seed_identity(target) -> People:
    from identity import agents as identity_agents, passwords
    from identity.db import get_db
    from identity.models import AgentAssignment, Commune, User
    from identity.oidc import clients as oidc_clients, consent as oidc_consent, tokens as oidc_tokens
    from identity.settings import get_settings

    db = get_db()
    with db.transaction() as s:
        s.add_all([Commune(slug=COMMUNE_A, name="Fuzz A"), Commune(slug=COMMUNE_B, name="Fuzz B")])
        agents = []
        for commune in (COMMUNE_A, COMMUNE_B):
            user = User(email=unique_email("agent"), is_active=True,
                        password_hash=passwords.hash_password("agent-password-long"))
            s.add(user)
            s.flush()
            s.add(AgentAssignment(user_id=user.id, commune_slug=commune, role="agent"))
            agents.append(user.sub)
        s.flush()
        identity_agents.publish_all(s)  # agent.assigned.v1: the services' agents projections

    http = target.app.test_client()
    agent = tokens.Caller(sub=agents[0], role="agent", commune=COMMUNE_A)
    system = _bearer(tokens.Caller(sub="gateway", role="system"))
    email = unique_email("parent")
    _ok(http.post("/internal/agent/families", json={"family_name": "Fuzz", "email": email}, headers=_bearer(agent)), 201)
    link = next(d["link"] for d in outbox_links(target.database_url, "activation.issued.v1") if d["email"] == email)
    token = link.rsplit("/", 1)[1]
    _ok(http.post(f"/internal/activations/{token}/profile", json={**PROFILE, "email": email}, headers=system))
    done = _ok(http.post(f"/internal/activations/{token}/password", json={"password": PASSWORD}, headers=system))
    parent = tokens.Caller(sub=done["sub"], role="parent", family_id=done["family_id"])
    # Something in each list the parent and the agent read.
    _ok(http.post("/internal/me/children", json={"given_name": "Léa", "family_name": "Fuzz", "birth_date": "2018-03-01"},
                  headers=_bearer(parent)), 201)
    pending_email = unique_email("pending")
    pending = _ok(http.post("/internal/agent/families", json={"family_name": "Attente", "email": pending_email},
                            headers=_bearer(agent)), 201)
    _ok(http.post("/internal/me/invitations", json={"email": unique_email("invited")}, headers=_bearer(parent)), 201)
    household = _ok(http.get("/internal/me/household", headers=_bearer(parent)))
    links = [d["link"].rsplit("/", 1)[1] for kind in ("activation.issued.v1", "guardian.invited.v1")
             for d in outbox_links(target.database_url, kind) if d["email"] != email]
    known = {"family_id": [parent.family_id, pending["id"]], "slug": [COMMUNE_A], "client_id": ["fuzz-portal"],
             "guardian_id": [g["id"] for g in household["guardians"]],
             "child_id": [c["id"] for c in household["children"]], "token": links}

    settings = get_settings()
    with db.transaction() as s:
        client = oidc_clients.ensure_client(s, "fuzz-portal", "fuzz-portal-secret", "Portail fuzz",
                                            ["http://127.0.0.1:8765/callback"], first_party=False)
        users = {u.sub: u for u in s.query(User).filter(User.sub.in_([parent.sub, agents[0]]))}
        oidc_consent.record(s, users[parent.sub].id, client, "openid profile", "explicit")  # a connected portal
        access = {
            name: oidc_tokens.mint_access_token(s, settings, client, users[sub], scope, None)[0]
            for name, sub, scope in (("parent", parent.sub, "openid profile email"),
                                     ("agent", agents[0], "openid"),
                                     ("profile_only", parent.sub, "profile"))
        }
    return People(agent_a=agents[0], agent_b=agents[1], parent_sub=parent.sub, family_id=parent.family_id,
                  parent_access_token=access["parent"], agent_access_token=access["agent"],
                  profile_only_access_token=access["profile_only"], known=known)
