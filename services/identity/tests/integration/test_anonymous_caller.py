"""A visitor who is not signed in (service token role "anonymous") reaches the public and
link operations, and nothing of any commune or family."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (activate, app, auth, client, db, db_url, gateway_caller, make_agent,  # noqa: F401
                              make_commune, unique)

pytestmark = pytest.mark.integration


def test_anonymous_sees_communes_but_no_family_nor_household(client, db):
    agent = make_agent(db, make_commune(db))
    family_id = activate(client, db, agent, f"{unique('p')}@example.org")["family_id"]
    anonymous = auth(gateway_caller())
    assert gateway_caller().role == "anonymous"
    assert client.get("/internal/communes", headers=anonymous).status_code == 200
    for path in ("/internal/agent/families", f"/internal/agent/families/{family_id}", "/internal/agent/audit",
                 "/internal/me/household", "/internal/me/consents"):
        resp = client.get(path, headers=anonymous)
        assert resp.status_code in (403, 404), (path, resp.status_code)
        assert resp.headers["content-type"].startswith("application/problem+json")
