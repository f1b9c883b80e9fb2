"""GET /internal/parent/prices: the price of one booked day per price reference for the caller's
family, as the invoicing run would charge it (the parents' calendar shows it, issue 8)."""
from __future__ import annotations

from servicekit import tokens

from billing_testkit import auth, past_month, unique

BRACKETS = [{"upper_qf": 500, "price_cents": 150}, {"upper_qf": 900, "price_cents": 280},
            {"upper_qf": None, "price_cents": 410}]


def prices(client, family, commune, *refs):
    params = [("commune", commune), *(("price_ref", ref) for ref in refs)]
    response = client.get("/internal/parent/prices", params=params, headers=family.headers)
    assert response.status_code == 200, response.text
    return response.json()


def by_ref(body: dict) -> dict[str, int]:
    return {p["price_ref"]: p["price_cents"] for p in body["prices"]}


def test_a_family_pays_its_qf_bracket_and_without_a_qf_the_highest(world, client):
    world.grid("REPAS", "Repas", BRACKETS)
    world.grid("SOIR", "Accueil du soir", [{"upper_qf": 700, "price_cents": 90}, {"upper_qf": None, "price_cents": 200}])
    modest, bound, unknown = world.family(qf=420), world.family(qf=900), world.family()

    assert by_ref(prices(client, modest, world.commune, "REPAS", "SOIR")) == {"REPAS": 150, "SOIR": 90}
    assert by_ref(prices(client, bound, world.commune, "REPAS")) == {"REPAS": 280}  # a bound is in its bracket
    body = prices(client, unknown, world.commune, "REPAS", "SOIR")
    assert body["qf_known"] is False and by_ref(body) == {"REPAS": 410, "SOIR": 200}
    assert prices(client, modest, world.commune)["qf_known"] is True
    assert [p["label"] for p in prices(client, modest, world.commune)["prices"]] == ["Repas", "Accueil du soir"]


def test_the_price_is_what_the_run_charges_for_a_present_day(world, client):
    world.grid("REPAS", "Repas", BRACKETS, charge_rules={"present": {"percent": "100", "fixed_cents": 25}})
    world.grid("GOUTER", "Goûter", BRACKETS)
    client.put("/internal/agent/settings", json={"dates": {
        "publication": {"months_after": 1, "day": 1}, "displayed_deadline": {"months_after": 1, "day": 31},
        "last_day_online": {"months_after": 1, "day": 31}, "due": {"months_after": 2, "day": 31}},
        "charge_rules": {"present": {"percent": "50"}}}, headers=world.headers)
    family = world.family(qf=600)
    quoted = by_ref(prices(client, family, world.commune, "REPAS", "GOUTER"))
    assert quoted == {"REPAS": 305, "GOUTER": 140}  # the grid's own rule wins over the commune's 50 %

    month, days = past_month()
    world.book(family, days[0], "REPAS")
    world.book(family, days[0], "GOUTER")
    world.run(month)
    [invoice] = world.invoices(family, "to_pay")
    assert invoice["total_cents"] == quoted["REPAS"] + quoted["GOUTER"]


def test_unknown_references_and_other_communes_give_no_price(world, client):
    world.grid("REPAS", "Repas", BRACKETS)
    family = world.family(qf=420)
    assert prices(client, family, world.commune, "INCONNU")["prices"] == []
    # A commune without grids prices nothing.
    assert prices(client, family, unique("autre"), "REPAS")["prices"] == []


def test_only_a_parent_asks_and_bad_input_is_a_400(world, client):
    world.grid("REPAS", "Repas", BRACKETS)
    family = world.family(qf=420)
    agent = client.get("/internal/parent/prices", params={"commune": world.commune}, headers=world.headers)
    assert agent.status_code == 403 and agent.headers["content-type"].startswith("application/problem+json")
    assert client.get("/internal/parent/prices", params={"commune": world.commune}).status_code == 401
    for params in ({}, {"commune": "Pas Une Commune"}, {"commune": world.commune, "price_ref": "a b"}):
        response = client.get("/internal/parent/prices", params=params, headers=family.headers)
        assert response.status_code == 400, (params, response.text)
    stranger = tokens.Caller(sub=unique("parent"), role="parent", family_id=unique("fam"))
    body = client.get("/internal/parent/prices", params={"commune": world.commune, "price_ref": "REPAS"},
                      headers=auth(stranger)).json()
    assert body["prices"] == [{"price_ref": "REPAS", "label": "Repas", "price_cents": 410}]
