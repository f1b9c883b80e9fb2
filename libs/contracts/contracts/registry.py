"""Every event payload model, found in the producer modules, and their JSON Schemas."""
from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from pathlib import Path

import contracts
from contracts.envelope import Envelope, EventPayload

SCHEMA_DIR = Path(__file__).with_name("schemas")
_NOT_PRODUCERS = {"envelope", "registry", "__main__"}


def payload_models() -> dict[str, type[EventPayload]]:
    """EVENT_TYPE -> model, for every producer module of this package."""
    models: dict[str, type[EventPayload]] = {}
    for info in pkgutil.iter_modules(contracts.__path__):
        if info.name in _NOT_PRODUCERS:
            continue
        module = importlib.import_module(f"contracts.{info.name}")
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, EventPayload) and obj is not EventPayload and obj.__module__ == module.__name__:
                if obj.EVENT_TYPE in models:
                    raise ValueError(f"two models declare {obj.EVENT_TYPE}")
                models[obj.EVENT_TYPE] = obj
    return models


def schemas() -> dict[str, dict]:
    """File name -> JSON Schema, for the envelope and each payload."""
    out = {"envelope.json": Envelope.model_json_schema()}
    for event_type, model in payload_models().items():
        schema = model.model_json_schema()
        schema["x-event-type"] = event_type
        out[f"{event_type}.json"] = schema
    return out


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export() -> list[str]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for name, schema in schemas().items():
        (SCHEMA_DIR / name).write_text(render(schema))
        written.append(name)
    return written
