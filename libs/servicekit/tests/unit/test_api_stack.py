"""servicekit.api_stack: connexion's AsyncApp with the middleware an API needs (issue 6).

What it drops or moves must not change what a client sees: the spec documents are still
served, validation and security still apply, an operation still gets its parameters."""
import pytest
from connexion.decorators import StarletteDecorator
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.testclient import TestClient

from servicekit import api_stack
from sk_probe_api import add_api, make


def test_operations_get_their_parameters_and_validation_still_applies(spec_file):
    client = TestClient(make(spec_file))
    assert client.get("/internal/echo/abc", params={"times": 2}).json() == {"echo": ["abc", "abc"]}
    assert client.get("/internal/echo/abc").json() == {"echo": ["abc"]}
    assert client.get("/internal/echo/toolong").status_code == 400  # maxLength
    assert client.get("/internal/echo/abc", params={"times": 0}).status_code == 400  # minimum
    assert client.get("/internal/echo/abc", params={"other": 1}).status_code == 400  # strict validation


def test_an_operation_is_decorated_once_not_on_every_request(spec_file, monkeypatch):
    built = []
    decorate = StarletteDecorator.decorate
    monkeypatch.setattr(StarletteDecorator, "decorate", lambda self, fn: built.append(fn) or decorate(self, fn))
    client = TestClient(make(spec_file))
    for word in ("a", "b", "c"):
        assert client.get(f"/internal/echo/{word}").json() == {"echo": [word]}
    assert len(built) == 1


def test_spec_documents_are_served_after_routing_and_no_response_validation(spec_file):
    app = make(spec_file)
    stack = [getattr(m, "func", m) for m in app.middleware.middlewares]
    assert ResponseValidationMiddleware not in stack
    assert SwaggerUIMiddleware not in stack  # connexion's, in front of the routing
    assert stack.index(api_stack.SpecDocuments) == stack.index(RoutingMiddleware) + 1
    client = TestClient(app)
    document = client.get("/openapi.json")
    assert document.status_code == 200 and document.json()["info"]["title"] == "stack probe"
    assert client.get("/ui/").status_code == 200
    assert client.get("/nowhere").status_code == 404


def test_an_operation_with_a_body_still_gets_it_validated(spec_file):
    client = TestClient(make(spec_file))
    assert client.post("/internal/notes", json={"text": "hello"}).json() == {"body": {"text": "hello"}}
    assert client.post("/internal/notes", json={"text": "far too long"}).status_code == 400
    assert client.post("/internal/notes", json={"other": "x"}).status_code == 400
    assert client.post("/internal/notes", content=b"text=x",
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 415


def test_a_form_sent_to_an_operation_without_a_body_sets_none_of_its_parameters(spec_file):
    # connexion parsed the form of every request and passed a file field named like a query
    # parameter to the operation, unvalidated (here: `times` an upload, a 500).
    client = TestClient(make(spec_file))
    response = client.request("GET", "/internal/echo/abc", files={"times": ("t.txt", b"3")})
    assert response.status_code == 200 and response.json() == {"echo": ["abc"]}


def test_parameter_validators_are_built_once_per_operation(spec_file, monkeypatch):
    from connexion.validators.parameter import ParameterValidator

    built = []
    init = ParameterValidator.__init__
    monkeypatch.setattr(ParameterValidator, "__init__", lambda self, *a, **kw: built.append(1) or init(self, *a, **kw))
    client = TestClient(make(spec_file))
    for word in ("a", "b", "c"):
        assert client.get(f"/internal/echo/{word}").json() == {"echo": [word]}
    assert client.get("/internal/echo/abc", params={"times": 0}).status_code == 400
    assert len(built) == 1


def test_an_operation_without_parameters_builds_no_request_and_still_refuses_a_query(spec_file, monkeypatch):
    from connexion.frameworks.starlette import Starlette
    from connexion.validators.parameter import ParameterValidator

    requests, validated = [], []
    get_request, validate = Starlette.get_request, ParameterValidator.validate
    monkeypatch.setattr(Starlette, "get_request", staticmethod(lambda **kw: requests.append(1) or get_request(**kw)))
    monkeypatch.setattr(ParameterValidator, "validate", lambda self, scope: validated.append(1) or validate(self, scope))
    client = TestClient(make(spec_file))
    assert client.get("/internal/ping").json() == {"pong": True}
    assert requests == [] and validated == []
    refused = client.get("/internal/ping", params={"x": "1"})  # strict validation, connexion's words
    assert refused.status_code == 400 and "Extra query parameter(s) x not in spec" in refused.json()["detail"]
    assert validated == [1]
    assert client.get("/internal/echo/abc").json() == {"echo": ["abc"]}
    assert requests == [1] and validated == [1, 1]


def test_a_middleware_before_validation_is_placed_and_run_there(spec_file):
    from connexion.middleware import MiddlewarePosition

    seen = []

    class Probe:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                seen.append(scope["path"])
            await self.app(scope, receive, send)

    app = api_stack.AsyncApp(__name__)
    app.add_middleware(Probe, position=MiddlewarePosition.BEFORE_VALIDATION)
    add_api(app, spec_file)
    stack = [getattr(m, "func", m) for m in app.middleware.middlewares]
    assert stack.index(Probe) + 1 == stack.index(api_stack._RequestValidation)
    assert TestClient(app).get("/internal/echo/abc").status_code == 200
    assert seen == ["/internal/echo/abc"]
