"""Scopes per public API operation: declared in openapi/gateway.yaml, checked by the gateway."""
import pytest
import yaml

from servicekit.web import Problem

from gateway import auth

SPEC_WITH_READS = {
    "openapi": "3.0.3",
    "paths": {
        "/communes": {"get": {"operationId": "list_communes", "security": []}},
        "/familles/moi/factures": {"get": {"operationId": "list_invoices",
                                           "security": [{"identityBearer": ["invoices:read"]}, {"session": []}]}},
        "/familles/moi/demandes": {"get": {"operationId": "list_requests"}},
    },
    "security": [{"identityBearer": ["requests:read"]}],
}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(SPEC_WITH_READS))
    return path


def test_each_operation_requires_the_scopes_its_security_lists(spec):
    assert auth.required_scopes("list_invoices", spec) == ("invoices:read",)
    assert auth.required_scopes("list_requests", spec) == ("requests:read",)  # the document's default
    assert auth.required_scopes("list_communes", spec) is None


def test_a_token_for_one_read_does_not_open_another(spec):
    invoices_only = {"sub": "u1", "scope": "openid invoices:read"}
    auth.require_scopes(invoices_only, auth.required_scopes("list_invoices", spec))
    with pytest.raises(Problem) as refused:
        auth.require_scopes(invoices_only, auth.required_scopes("list_requests", spec))
    assert refused.value.status == 403 and "« requests:read »" in refused.value.detail


def test_an_operation_without_bearer_security_refuses_tokens(spec):
    with pytest.raises(Problem) as refused:
        auth.require_scopes({"scope": "openid invoices:read requests:read"}, auth.required_scopes("list_communes", spec))
    assert refused.value.status == 401


def test_the_gateway_spec_uses_only_scopes_it_describes():
    document = yaml.safe_load(auth.SPEC.read_text())
    described = set(document["components"]["securitySchemes"]["identityBearer"]["flows"]["authorizationCode"]["scopes"])
    used = {scope for item in document["paths"].values() for op in item.values()
            for requirement in op.get("security", []) for scope in requirement.get("identityBearer", [])}
    assert used <= described and {"invoices:read", "requests:read"} <= described
    assert auth.required_scopes("me") == ("openid",)
