"""The committed JSON Schemas are the published contract: the models must still produce them.

A change to a payload model that alters its schema fails here until `python -m contracts export`
is run and the new schema committed — the moment to ask whether the change is compatible
(adding an optional field keeps the version; anything else is a new `.vN` type).
"""
import json

import pytest

from contracts.envelope import Envelope, EventPayload
from contracts.registry import SCHEMA_DIR, payload_models, render, schemas

CURRENT = schemas()


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_committed_schema_matches_model(name):
    path = SCHEMA_DIR / name
    assert path.exists(), f"{name} is not committed: run `python -m contracts export`"
    assert path.read_text() == render(CURRENT[name]), f"{name} changed: run `python -m contracts export`"


def test_no_stale_schema_files():
    committed = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert committed == set(CURRENT), f"stale or missing schema files: {committed ^ set(CURRENT)}"


@pytest.mark.parametrize("event_type", sorted(payload_models()))
def test_event_type_follows_naming_rule(event_type):
    entity_verb, _, version = event_type.rpartition(".")
    assert version.startswith("v") and version[1:].isdigit(), event_type
    assert entity_verb.count(".") == 1, f"{event_type}: expected <entity>.<past_verb>.v<major>"


def test_envelope_round_trip_and_type_check():
    class Probe(EventPayload):
        EVENT_TYPE = "probe.happened.v1"
        value: int

    env = Envelope(type="probe.happened.v1", source="test", data=Probe(value=3).model_dump(mode="json"))
    again = Envelope.model_validate(json.loads(env.model_dump_json()))
    assert again.payload(Probe).value == 3
    other = Envelope(type="other.happened.v1", source="test", data={"value": 3})
    with pytest.raises(ValueError):
        other.payload(Probe)
