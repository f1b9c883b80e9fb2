"""servicekit.fast_body and its place in api_stack: a JSON body's compiled check lets a valid body
through without jsonschema; every other body meets connexion's validator, as before (issues 6, 8).

A client must see exactly what connexion answers for a bad body, and the fast check must never
accept a body connexion refuses: each rewrite of the schema below has a case that fails without it."""
import json

import connexion
import pytest
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator
from connexion.datastructures import MediaTypeDict
from starlette.testclient import TestClient

from servicekit import fast_body
from sk_probe_api import make


def accepts(schema, body) -> bool:
    check = fast_body.compile_body_check(schema)
    assert check is not None
    try:
        check(body)
    except Exception:  # noqa: BLE001
        return False
    return True


# --- the schema rewrites ------------------------------------------------------------------------

def test_draft_4_a_float_is_not_an_integer():
    # fastjsonschema's default draft (7) takes 1.0 as an integer; connexion's draft 4 does not
    assert not accepts({"type": "integer"}, 1.0)
    assert not accepts({"type": "integer"}, True) and not accepts({"type": "number"}, False)
    assert accepts({"type": "integer"}, 1)


def test_nullable_lets_null_through_type_and_enum_only():
    assert accepts({"type": "string", "nullable": True}, None)
    assert accepts({"type": "string", "enum": ["a"], "nullable": True}, None)
    assert not accepts({"type": "string"}, None)
    assert accepts({"type": "integer", "x-nullable": True}, None)
    assert not accepts({"type": "integer", "x-nullable": "yes"}, None)  # connexion: `is True`
    # connexion relaxes `type` and `enum`, nothing else: null still meets allOf's subschemas
    assert not accepts({"nullable": True, "allOf": [{"type": "string"}]}, None)


def test_formats_are_those_jsonschema_checks_for_draft_4():
    # jsonschema checks idn-email for draft 4, fastjsonschema's draft 4 does not know it
    assert not accepts({"type": "string", "format": "idn-email"}, "no at sign")
    assert accepts({"type": "string", "format": "idn-email"}, "a@b")
    # date-time: fastjsonschema's regex, unchecked by connexion's draft 4 (no rfc3339 package):
    # would only send bodies to the slow path, never let a bad one through
    assert accepts({"type": "string", "format": "date-time"}, "2026-09-01T08:00:00") is (
        "date-time" not in fast_body._FORMAT_CHECKER.checkers)
    assert accepts({"type": "string", "format": "date"}, "not a date")  # neither checks it (draft 4)


def test_defaults_are_not_filled_in():
    body = {}
    assert accepts({"type": "object", "properties": {"action": {"type": "string", "default": "book"}}}, body)
    assert body == {}


@pytest.mark.parametrize("schema", [
    {"$ref": "#/components/schemas/X"},
    {"type": "number", "multipleOf": 0.1},  # 0.3: Decimal says yes, jsonschema's float says no
    {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
    {"type": "string", "pattern": "^(?!x$)"},  # `$` read as `\\Z` inside a negative lookahead: laxer
    {"type": "object", "properties": {"a": {"type": "string", "dependencies": {}}}},
    {"type": "array", "items": [{"type": "string"}]},
    {"type": "string", "pattern": "["},
])
def test_keywords_that_might_differ_are_not_compiled(schema):
    assert fast_body.compile_body_check(schema) is None


def test_a_pattern_ending_in_dollar_is_stricter_never_laxer():
    assert not accepts({"type": "string", "pattern": "^[a-z]+$"}, "abc\n")  # connexion: yes (slow path)
    assert accepts({"type": "string", "pattern": "^[a-z]+$"}, "abc")


# --- in the stack -------------------------------------------------------------------------------

@pytest.fixture
def jsonschema_runs(monkeypatch):
    runs = []
    validate = JSONRequestBodyValidator._validate
    monkeypatch.setattr(JSONRequestBodyValidator, "_validate", lambda self, body: runs.append(body) or validate(self, body))
    return runs


def test_a_valid_body_goes_through_without_jsonschema_and_unchanged(spec_file, jsonschema_runs):
    client = TestClient(make(spec_file))
    for body in ({"text": "hello"}, {"text": "hi", "tag": None}, {"text": "hi", "tag": "a", "count": 3}):
        response = client.post("/internal/notes", json=body)
        assert response.status_code == 200 and response.json() == {"body": body}  # no default filled in
    assert jsonschema_runs == []


BAD_BODIES = [{"text": "far too long"}, {"text": "UPPER"}, {"text": "abc", "tag": "c"}, {"tag": "a"},
              {"text": "abc", "other": 1}, {"text": "abc", "count": 0}, {"text": "abc", "count": 1.0},
              {"text": "abc", "count": True}, [], None, "text", {"text": None}]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_a_bad_body_gets_connexions_own_answer(spec_file, jsonschema_runs, body):
    sent = {"content": json.dumps(body), "headers": {"Content-Type": "application/json"}}
    ours = TestClient(make(spec_file)).post("/internal/notes", **sent)
    theirs = TestClient(make(spec_file, connexion.AsyncApp)).post("/internal/notes", **sent)
    assert ours.status_code == theirs.status_code == 400
    assert ours.json() == theirs.json()
    assert jsonschema_runs  # connexion's validator decided


def test_a_body_the_fast_check_refuses_and_connexion_accepts_goes_through(spec_file, jsonschema_runs):
    response = TestClient(make(spec_file)).post("/internal/notes", json={"text": "abc\n"})  # `$` before a final \n
    assert response.status_code == 200 and response.json() == {"body": {"text": "abc\n"}}
    assert jsonschema_runs == [{"text": "abc\n"}]


def test_a_schema_not_compiled_is_validated_by_connexion(spec_file, jsonschema_runs):
    client = TestClient(make(spec_file))
    assert client.post("/internal/steps", json={"size": 0.5}).status_code == 200
    assert client.post("/internal/steps", json={"size": 0.3}).status_code == 400  # jsonschema's float division
    assert len(jsonschema_runs) == 2


def test_the_body_check_is_compiled_once_per_operation(spec_file, monkeypatch):
    compiled = []
    compile_ = fast_body.compile_body_check
    monkeypatch.setattr(fast_body, "compile_body_check", lambda schema: compiled.append(1) or compile_(schema))
    client = TestClient(make(spec_file))
    for text in ("a", "b", "c"):
        assert client.post("/internal/notes", json={"text": text}).status_code == 200
    assert client.post("/internal/notes", json={"text": "B"}).status_code == 400
    # a content type spelled otherwise takes connexion's path (which finds no JSON validator for it,
    # and hands the handler bytes: a 500 here), and nothing is compiled or cached for it
    sent = {"content": b'{"text": "D"}', "headers": {"Content-Type": "Application/JSON"}}
    theirs = TestClient(make(spec_file, connexion.AsyncApp)).post("/internal/notes", **sent)
    assert client.post("/internal/notes", **sent).status_code == theirs.status_code
    assert len(compiled) == 1


def test_an_apps_own_json_validator_is_kept(spec_file, jsonschema_runs):
    class Strict(JSONRequestBodyValidator):
        def _validate(self, body):
            if body.get("text") == "nope":
                from connexion.exceptions import BadRequestProblem
                raise BadRequestProblem(detail="refused by the app's validator")
            return super()._validate(body)

    body = MediaTypeDict(dict(VALIDATOR_MAP["body"]))
    body["*/*json"] = Strict
    client = TestClient(make(spec_file, validator_map={"body": body}))
    response = client.post("/internal/notes", json={"text": "nope"})
    assert response.status_code == 400 and response.json()["detail"] == "refused by the app's validator"


def test_an_empty_body_gets_connexions_message_even_where_the_schema_allows_null():
    from connexion.exceptions import BadRequestProblem

    schema = {"properties": {"text": {"type": "string"}}}  # no type: the compiled check says yes to null
    validator = fast_body.FastJSONRequestBodyValidator(schema=schema, required=True, nullable=False, encoding="utf-8",
                                                       strict_validation=True, fast_check=fast_body.compile_body_check(schema))
    with pytest.raises(BadRequestProblem, match="Request body must not be empty"):
        validator._validate(None)
    assert validator._validate({"text": "a"}) is None
