"""Every app of the platform has servicekit's asgi_guard in front (wired by servicekit.web.create_app
and the gateway's factory): a control character in the path is a French 400, an undeclared method
a French 405 listing every method of the path."""
from __future__ import annotations

import pytest

import fuzzkit

METHODS = ("get", "put", "post", "delete", "patch")
TARGETS = [pytest.param(t.name, id=t.name) for t in fuzzkit.platform().targets if t.apis]


def _first_path(target: fuzzkit.Target) -> tuple[str, set[str]]:
    api = target.apis[0]
    base = (api.raw.get("servers") or [{"url": ""}])[0]["url"].rstrip("/")
    path, item = next(iter(api.raw["paths"].items()))
    concrete = path.replace("{", "x").replace("}", "")
    return base + concrete, {m.upper() for m in item if m in METHODS}


@pytest.mark.parametrize("name", TARGETS)
def test_a_newline_in_the_path_is_a_french_400(name, fuzz_platform):
    target = fuzz_platform.target(name)
    path, _ = _first_path(target)
    response = target.app.test_client().get(path + "%0Ax")
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "L'adresse demandée contient un caractère de contrôle."


@pytest.mark.parametrize("name", TARGETS)
def test_an_undeclared_method_is_a_405_listing_the_paths_methods(name, fuzz_platform):
    target = fuzz_platform.target(name)
    path, declared = _first_path(target)
    undeclared = next(m for m in ("OPTIONS", "TRACE") if m not in declared)
    response = target.app.test_client().request(undeclared, path)
    assert response.status_code == 405, response.text
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert declared <= allowed and allowed - declared <= {"HEAD"}
