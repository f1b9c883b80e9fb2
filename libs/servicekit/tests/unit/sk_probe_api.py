"""The small API the api_stack and fast_body tests serve: one OpenAPI document (written to a file
by conftest's `spec_file` fixture), its operations, and `make` (an app of the API)."""
import textwrap

from connexion.resolver import RelativeResolver

from servicekit import api_stack

SPEC = textwrap.dedent("""
    openapi: 3.0.3
    info: {title: stack probe, version: "1"}
    paths:
      /internal/ping:
        get:
          operationId: ping
          responses: {"200": {description: ok}}
      /internal/echo/{word}:
        get:
          operationId: echo
          parameters:
            - {name: word, in: path, required: true, schema: {type: string, maxLength: 5}}
            - {name: times, in: query, schema: {type: integer, minimum: 1, default: 1}}
          responses: {"200": {description: ok}}
      /internal/notes:
        post:
          operationId: add_note
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [text]
                  additionalProperties: false
                  properties:
                    text: {type: string, maxLength: 10, pattern: "^[a-z ]+$"}
                    tag: {$ref: "#/components/schemas/Tag"}
                    count: {type: integer, minimum: 1, default: 1}
          responses: {"200": {description: ok}}
      /internal/steps:
        post:
          operationId: add_step
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object, properties: {size: {type: number, multipleOf: 0.1}}}
          responses: {"200": {description: ok}}
    components:
      schemas:
        Tag: {type: string, nullable: true, enum: [a, b]}
""")


async def ping():
    return {"pong": True}


async def echo(word, times):
    return {"echo": [word] * times}


async def add_note(body):
    return {"body": body}


async def add_step(body):
    return {"body": body}


def add_api(app, spec_file, **options):
    app.add_api(spec_file, resolver=RelativeResolver(__name__), strict_validation=True, validate_responses=False,
                pythonic_params=True, **options)
    return app


def make(spec_file, app_cls=api_stack.AsyncApp, **options):
    return add_api(app_cls(__name__), spec_file, **options)
