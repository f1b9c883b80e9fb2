"""connexion's AsyncApp with only the middleware an API needs, each request routed once (issue 6).

connexion stays the OpenAPI layer: routing, security, request validation, the operations'
parameters and the spec documents are connexion's own code. What `AsyncApp` here changes is the
stack around them, measured on the gateway's `GET /api/communes` (ADR 0007):

- no `ResponseValidationMiddleware`: every app passes `validate_responses=False`, and the
  middleware still looked the operation up and wrapped `send` on every request;
- the spec document and Swagger UI (`SpecDocuments`, connexion's `SwaggerUIMiddleware`) sit
  after the routing middleware and only see requests it did not match to an operation: in front
  of it (connexion's default) they ran a router of their own on every request, a second full
  route match before the real one;
- an operation's decorators (parameters, response) and its parameter parser are built once per
  operation: connexion's `AsyncOperation` rebuilds them on every request (four `functools.wraps`,
  an `inspect` signature and a URI parser each time); the request itself is still read from
  connexion's context on every call;
- an operation whose spec declares no request body (every GET) takes its arguments from the path
  and the query only (`_NoBodyParameters`): connexion's parameter decorator reads the body and
  parses it as a form on every request, for every operation, and passed a form's file fields on
  as arguments even to an operation that declares no body (a file named like a query parameter
  replaced that parameter, unvalidated); one that takes no argument at all (`list_communes`)
  gets no request object built and no arguments prepared (connexion's would be empty);
- request validation builds an operation's parameter validator (and its URI parser) once, and
  for an operation without a request body goes no further than validating the parameters
  (`_RequestValidation`): connexion built both on every request, then looked for a body schema
  and a content type that such an operation does not have; an operation that declares no
  parameter is validated only when a query string came (strict validation refuses it);
- a JSON request body is checked first by its schema compiled once per operation with
  fastjsonschema (`servicekit.fast_body`): a yes lets it through, a no (or a schema it cannot
  read as connexion does) runs connexion's jsonschema validator, which decides and words the 400
  as before (connexion's jsonschema was ~1.4 ms of CPU for a booking cart of 20 lines).

Everything else (error handling, security, strict request validation, lifespan, context) is
connexion's default stack, in its order, so `MiddlewarePosition`s keep their meaning (except
`BEFORE_SWAGGER`: the spec documents are no longer in front of the routing).
"""
from __future__ import annotations

import enum
import functools
import logging
import typing as t

import connexion
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import receive, scope
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator, prep_kwargs, unwrap_decorators
from connexion.middleware.abstract import ROUTING_CONTEXT
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.main import MiddlewarePosition
from connexion.middleware.request_validation import (RequestValidationAPI, RequestValidationMiddleware,
                                                     RequestValidationOperation)
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.utils import inspect_function_arguments, is_nullable
from connexion.validators import JSONRequestBodyValidator

from servicekit import fast_body

logger = logging.getLogger("connexion.middleware.validation")  # connexion's, for its own message


class SpecDocuments(SwaggerUIMiddleware):
    """connexion's `openapi.json` and Swagger UI, for the requests routing matched to no operation.

    Placed after `RoutingMiddleware`: a request routed to an operation goes on at once (one dict
    look-up), the others meet the Swagger router exactly as they did in front of the routing."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            routing = scope.get("extensions", {}).get(ROUTING_CONTEXT) or {}
            if routing.get("operation_id") is not None:
                await self.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class _ValidationOperation(RequestValidationOperation):
    """connexion's request validation of one operation, its parameter validator built once and a
    JSON body checked first by a validator compiled once (`servicekit.fast_body`)."""

    @functools.cached_property
    def _uri_parser(self):
        op = self._operation
        return op._uri_parser_class(op.parameters, op.body_definition())

    @functools.cached_property
    def _parameters(self):
        return self._validator_map["parameter"](
            self._operation.parameters, uri_parser=self._uri_parser,
            strict_validation=self.strict_validation, security_query_params=self.security_query_params)

    @functools.cached_property
    def _fast_checks(self) -> dict:
        """Per content type the operation declares, its body's compiled check (None: no fast path)."""
        return {}

    def _fast_check(self, mime_type: str, schema: dict):
        key = mime_type.lower()
        if key not in self._fast_checks:
            if key not in {c.lower() for c in self._operation.consumes}:
                return None  # a media range's match: not cached, connexion's validator (bounded cache)
            self._fast_checks[key] = fast_body.compile_body_check(schema)
        return self._fast_checks[key]

    @functools.cached_property
    def _declares_parameters(self) -> bool:
        return bool(self._operation.parameters)

    async def __call__(self, scope, receive, send) -> None:
        # An operation that declares no parameter has nothing to validate unless a query string
        # came (strict validation then refuses it, as connexion's validator words it).
        if self._declares_parameters or scope.get("query_string"):
            self._parameters.validate(scope)  # raises connexion's 400 problems, as in super().__call__
        if self._operation.is_request_body_defined:  # content type and body: connexion's own steps
            mime_type, encoding = self.extract_content_type(scope["headers"])
            self.validate_mime_type(mime_type)
            schema = self._operation.body_schema(mime_type)
            if schema:
                try:
                    body_validator = self._validator_map["body"][mime_type]
                except KeyError:
                    logger.info(f"Skipping validation. No validator registered for content type: {mime_type}.")
                else:
                    options = {}
                    fast_check = (self._fast_check(mime_type, schema)
                                  if body_validator is JSONRequestBodyValidator else None)
                    if fast_check is not None:
                        body_validator, options = fast_body.FastJSONRequestBodyValidator, {"fast_check": fast_check}
                    validator = body_validator(
                        schema=schema, required=self._operation.request_body.get("required", False),
                        nullable=is_nullable(self._operation.body_definition(mime_type)), encoding=encoding,
                        strict_validation=self.strict_validation, uri_parser=self._uri_parser, **options)
                    receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class _ValidationAPI(RequestValidationAPI):
    def make_operation(self, operation) -> _ValidationOperation:
        return _ValidationOperation(self.next_app, operation=operation, strict_validation=self.strict_validation,
                                    validator_map=self.validator_map)


class _RequestValidation(RequestValidationMiddleware):
    api_cls = _ValidationAPI


class _Position(enum.Enum):
    """connexion finds a `MiddlewarePosition` in the stack by its class: this one's request validation."""

    BEFORE_VALIDATION = _RequestValidation


MIDDLEWARES = [
    ServerErrorMiddleware,
    ExceptionMiddleware,
    RoutingMiddleware,
    SpecDocuments,
    SecurityMiddleware,
    _RequestValidation,
    LifespanMiddleware,
    ContextMiddleware,
]
"""connexion's default stack minus response validation, spec documents after the routing,
request validation that builds each operation's parameter validator once."""


class _NoBodyParameters(AsyncParameterDecorator):
    """connexion's parameter decorator for an operation without a request body: the path and query
    arguments by connexion's own `prep_kwargs`, with no body read and no form parsed."""

    def __call__(self, function: t.Callable) -> t.Callable:
        arguments, has_kwargs = inspect_function_arguments(unwrap_decorators(function))
        sanitize = self.sanitize_fn

        if not arguments and not has_kwargs:
            # prep_kwargs would return {} (it passes only what the function names): no request read.
            @functools.wraps(function)
            async def no_arguments(_request):
                return await function()

            return no_arguments

        @functools.wraps(function)
        async def wrapper(request):
            kwargs = prep_kwargs(request, request_body=None, files={}, arguments=arguments, has_kwargs=has_kwargs,
                                 sanitize=sanitize)
            return await function(**kwargs)

        return wrapper


def takes_no_arguments(function: t.Callable) -> bool:
    arguments, has_kwargs = inspect_function_arguments(unwrap_decorators(function))
    return not arguments and not has_kwargs


class _DecoratedOnce(StarletteDecorator):
    """connexion's Starlette decorator, with the parameter and response decorators built once."""

    _parser = None

    def __init__(self, *, has_body: bool = True, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.has_body = has_body

    @property
    def _parameter_decorator_cls(self) -> type[AsyncParameterDecorator]:
        return super()._parameter_decorator_cls if self.has_body else _NoBodyParameters

    @property
    def uri_parser(self):
        # The operation's parameter parser depends on the operation only (this decorator serves one).
        if self._parser is None:
            self._parser = super().uri_parser
        return self._parser

    def __call__(self, function: t.Callable) -> t.Callable:
        decorated = self.decorate(function)
        if not self.has_body and takes_no_arguments(function):
            # Nothing reads the request (`_NoBodyParameters`, the response decorator): none is built.
            @functools.wraps(function)
            async def without_request(*args, **kwargs):
                return await decorated(None)

            return without_request

        @functools.wraps(function)
        async def wrapper(*args, **kwargs):
            request = self.framework.get_request(uri_parser=self.uri_parser, scope=scope, receive=receive)
            return await decorated(request)

        return wrapper


class _Operation(AsyncOperation):
    has_body = True

    @functools.cached_property
    def fn(self) -> t.Callable:  # connexion's property rebuilds this on every request
        return _DecoratedOnce(has_body=self.has_body, pythonic_params=self.pythonic_params,
                              jsonifier=self.jsonifier)(self._fn)


class _Api(AsyncApi):
    def make_operation(self, operation) -> _Operation:
        made = _Operation.from_operation(operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)
        made.has_body = operation.is_request_body_defined
        return made


class _ASGIApp(AsyncASGIApp):
    api_cls = _Api


class AsyncApp(connexion.AsyncApp):
    """`connexion.AsyncApp` on `MIDDLEWARES` (unless given others), operations decorated once."""

    def __init__(self, import_name: str, **kwargs: t.Any) -> None:
        kwargs.setdefault("middlewares", list(MIDDLEWARES))
        super().__init__(import_name, **kwargs)
        # connexion.AsyncApp builds its inner app in __init__; nothing is registered on it yet.
        self._middleware_app = _ASGIApp()
        self.middleware.app = self._middleware_app

    def add_middleware(self, middleware_class, position: MiddlewarePosition = MiddlewarePosition.BEFORE_CONTEXT,
                       **options: t.Any) -> None:
        if position is MiddlewarePosition.BEFORE_VALIDATION:
            position = _Position.BEFORE_VALIDATION
        super().add_middleware(middleware_class, position=position, **options)
