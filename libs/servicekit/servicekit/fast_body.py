"""A request body's JSON schema compiled once with fastjsonschema, in front of connexion's (issues 6 and 8).

connexion validates a JSON body with jsonschema (`Draft4RequestValidator`, pure Python: ~1.4 ms for
a booking cart of 20 lines). `compile_body_check` compiles the same schema with fastjsonschema into
a Python function that is 10-50x faster. It only ever says yes: `FastJSONRequestBodyValidator`
lets a body through when the compiled check accepts it, and otherwise runs connexion's own
validator, which decides and words the 400 exactly as before. The one risk is a body the fast
check accepts and connexion refuses, so the schema is compiled only when every keyword in it means
the same to both, after these rewrites (tests/unit/test_fast_body*.py prove it on our specs):

- draft 4 semantics (fastjsonschema defaults to draft 7: 1.0 would be an integer there);
- OpenAPI's `nullable` / `x-nullable`: connexion lets `null` through the `type` and `enum` of such
  a schema (and nothing else): "null" is added to its `type`, `None` to its `enum`;
- `format`: exactly the formats jsonschema's draft 4 FORMAT_CHECKER checks, by that checker;
  every other format (date, date-time, binary, ...) is checked by neither;
- defaults are not filled in (fastjsonschema's default): the handler gets the body as sent, as
  with connexion's JSONRequestBodyValidator;
- `pattern`: fastjsonschema reads `$` as `\\Z` (the end, not before a final newline): stricter,
  so never a yes where connexion says no; a pattern with a lookaround is not compiled.

Any other keyword (`$ref`: connexion resolved them already, the `components` it adds beside
the schema are dropped; `multipleOf`: floats divide
differently; `patternProperties`, `dependencies`, ...) means no fast check for that schema:
connexion validates it as before. Annotations (description, example, readOnly, writeOnly, ...)
are ignored by both (connexion 3's request validator does not relax `required` for readOnly).
"""
from __future__ import annotations

import logging
import re
import typing as t

import fastjsonschema
from connexion.validators import JSONRequestBodyValidator
from jsonschema import Draft4Validator

logger = logging.getLogger(__name__)

DRAFT4 = "http://json-schema.org/draft-04/schema#"

# Keywords fastjsonschema's draft 4 and connexion's Draft4RequestValidator read alike (after the
# rewrites above), and those both ignore.
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_VALUES = frozenset({"not", "items"})
_PLAIN = frozenset({"type", "enum", "required", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength",
                    "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minProperties",
                    "maxProperties", "format", "nullable", "x-nullable"})
_ANNOTATIONS = frozenset({"title", "description", "default", "example", "examples", "readOnly", "writeOnly",
                          "deprecated", "externalDocs", "xml", "discriminator"})

_FORMAT_CHECKER = Draft4Validator.FORMAT_CHECKER


def _checked_by_jsonschema(name: str) -> t.Callable[[t.Any], bool]:
    return lambda value: _FORMAT_CHECKER.conforms(value, name)


# fastjsonschema's own draft 4 formats are replaced too (those jsonschema does not check pass).
_FORMATS: dict[str, t.Callable[[t.Any], bool]] = {
    name: (lambda value: True) for name in fastjsonschema.draft04.CodeGeneratorDraft04.FORMAT_REGEXS}
_FORMATS.update({name: _checked_by_jsonschema(name) for name in _FORMAT_CHECKER.checkers})


class Unsupported(Exception):
    """A keyword the two validators might read differently: no fast check for this schema."""


def _lookaround(pattern: str) -> bool:
    return "(?=" in pattern or "(?!" in pattern or "(?<" in pattern


def draft4_as_connexion(schema: t.Any) -> dict:
    """A copy of `schema` that fastjsonschema (draft 4) reads as connexion's request validator does;
    `Unsupported` if it has a keyword they might not read alike."""
    if not isinstance(schema, dict):
        raise Unsupported(f"schema {schema!r}")
    out: dict = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS or key.startswith("x-") and key != "x-nullable":
            continue
        if key == "properties":
            if not isinstance(value, dict):
                raise Unsupported("properties")
            out[key] = {name: draft4_as_connexion(sub) for name, sub in value.items()}
        elif key == "additionalProperties":
            out[key] = value if isinstance(value, bool) else draft4_as_connexion(value)
        elif key in _SCHEMA_VALUES:
            out[key] = draft4_as_connexion(value)  # `items` as a list (tuples) is Unsupported here
        elif key in _SCHEMA_LISTS:
            if not isinstance(value, list):
                raise Unsupported(key)
            out[key] = [draft4_as_connexion(sub) for sub in value]
        elif key in _PLAIN:
            if key == "pattern" and (not isinstance(value, str) or _lookaround(value)):
                raise Unsupported(f"pattern {value!r}")
            out[key] = value
        else:
            raise Unsupported(key)
    # connexion's allow_nullable: `x-nullable` must be True, `nullable` truthy
    x_nullable, nullable = out.pop("x-nullable", None), out.pop("nullable", None)
    if x_nullable is True or nullable:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = types if "null" in types else [*types, "null"]
        if "enum" in out and isinstance(out["enum"], list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def compile_body_check(schema: dict) -> t.Callable[[t.Any], t.Any] | None:
    """fastjsonschema's compiled validator for a request body `schema`, or None when the schema has
    something the fast check might read differently from connexion (see the module's doc)."""
    try:
        # connexion's operation adds the spec's `components` to a body schema (to resolve `$ref`s:
        # none is left, see above); an unknown keyword to jsonschema
        definition = draft4_as_connexion({k: v for k, v in schema.items() if k != "components"})
        definition["$schema"] = DRAFT4
        return fastjsonschema.compile(definition, handlers={}, formats=_FORMATS, use_default=False,
                                      detailed_exceptions=False)
    except (Unsupported, fastjsonschema.JsonSchemaDefinitionException, re.error, TypeError, ValueError) as exc:
        logger.debug("request body schema not compiled (%s): connexion validates it", exc)
        return None


class FastJSONRequestBodyValidator(JSONRequestBodyValidator):
    """connexion's JSON body validator, a compiled check first: its yes lets the body through, its
    no (or any error) hands the body to connexion's jsonschema validator, which decides."""

    def __init__(self, *, fast_check: t.Callable[[t.Any], t.Any], **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self._fast_check = fast_check

    def _validate(self, body: t.Any) -> t.Optional[dict]:
        if body is not None:  # an empty body: connexion's own message
            try:
                self._fast_check(body)
            except Exception:  # noqa: BLE001 - connexion's validator is the authority
                pass
            else:
                return None
        return super()._validate(body)
