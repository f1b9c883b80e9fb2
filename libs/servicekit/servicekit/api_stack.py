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
  connexion's context on every call.

Everything else (error handling, security, strict request validation, lifespan, context) is
connexion's default stack, in its order, so `MiddlewarePosition`s keep their meaning (except
`BEFORE_SWAGGER`: the spec documents are no longer in front of the routing).
"""
from __future__ import annotations

import functools
import typing as t

import connexion
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import receive, scope
from connexion.decorators import StarletteDecorator
from connexion.middleware.abstract import ROUTING_CONTEXT
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware


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


MIDDLEWARES = [
    ServerErrorMiddleware,
    ExceptionMiddleware,
    RoutingMiddleware,
    SpecDocuments,
    SecurityMiddleware,
    RequestValidationMiddleware,
    LifespanMiddleware,
    ContextMiddleware,
]
"""connexion's default stack minus response validation, spec documents after the routing."""


class _DecoratedOnce(StarletteDecorator):
    """connexion's Starlette decorator, with the parameter and response decorators built once."""

    _parser = None

    @property
    def uri_parser(self):
        # The operation's parameter parser depends on the operation only (this decorator serves one).
        if self._parser is None:
            self._parser = super().uri_parser
        return self._parser

    def __call__(self, function: t.Callable) -> t.Callable:
        decorated = self.decorate(function)

        @functools.wraps(function)
        async def wrapper(*args, **kwargs):
            request = self.framework.get_request(uri_parser=self.uri_parser, scope=scope, receive=receive)
            return await decorated(request)

        return wrapper


class _Operation(AsyncOperation):
    @functools.cached_property
    def fn(self) -> t.Callable:  # connexion's property rebuilds this on every request
        return _DecoratedOnce(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)(self._fn)


class _Api(AsyncApi):
    def make_operation(self, operation) -> _Operation:
        return _Operation.from_operation(operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)


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
