"""An ASGI guard in front of every connexion app (services and gateway).

It answers, before connexion sees them, the malformed requests connexion 3.3 (or the database
behind it) would turn into a 500, and repairs one wrong header connexion sends:

- a JSON body that is not valid UTF-8: connexion's JSON validator decodes it without catching
  `UnicodeDecodeError` (docs/upstream/connexion-json-body-utf8.md);
- a JSON string holding a NUL character or a lone UTF-16 surrogate (`"\\u0000"`, `"\\ud800"`):
  valid JSON that PostgreSQL cannot store and UTF-8 cannot encode;
- a path holding a control character: connexion's router (a Starlette `Mount` whose `.*` stops
  at a newline) misses the operation, the framework app still routes it and the operation's
  view then fails outside connexion's operation context
  (docs/upstream/connexion-newline-in-path.md); other control characters reach the database;
- a NUL character in the query string (PostgreSQL refuses it in any text parameter);
- a method the path does not declare: the guard answers 405 itself, with an `Allow` that lists
  every method the specs declare for the path. connexion lists the methods of the first
  operation of the path only (`Allow: POST` where GET is served too,
  docs/upstream/connexion-405-allow.md), and routes a method a concrete path does not declare
  to a templated path that does (`PUT /sessions/generate` to `PUT /sessions/{date}`), where
  OpenAPI says the concrete path is the one matched.

Each refusal is a problem+json (400; 405 for a method) with a French `detail`. The guard is a connexion
`SpecMiddleware`, so it learns the operations of every API added to the app; it works the same
in front of a FlaskApp or an AsyncApp:

    app.add_middleware(RequestGuard, position=MiddlewarePosition.BEFORE_EXCEPTION)
"""
from __future__ import annotations

import json
import re
import typing as t
from urllib.parse import unquote_to_bytes

from connexion.middleware.abstract import SpecMiddleware

Scope = t.MutableMapping[str, t.Any]
Message = t.MutableMapping[str, t.Any]
Receive = t.Callable[[], t.Awaitable[Message]]
Send = t.Callable[[Message], t.Awaitable[None]]
ASGIApp = t.Callable[[Scope, Receive, Send], t.Awaitable[None]]

PROBLEM_JSON = b"application/problem+json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

BODY_NOT_UTF8 = "Le corps de la requête n'est pas un texte UTF-8 valide."
BODY_FORBIDDEN_CHARACTER = ("Le corps de la requête contient un caractère interdit "
                            "(caractère nul ou caractère Unicode isolé).")
PATH_CONTROL_CHARACTER = "L'adresse demandée contient un caractère de contrôle."
QUERY_NUL_CHARACTER = "Les paramètres de l'adresse contiennent un caractère nul."
METHOD_NOT_ALLOWED = "Cette adresse n'accepte pas cette méthode HTTP (voir l'en-tête Allow)."

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_PATH_PARAMETER = re.compile(r"\{[^}/]+\}")


class RequestGuard(SpecMiddleware):
    """Refuse requests that would crash connexion or the database (400), and methods a path
    does not declare (405 with the right Allow)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # (compiled path template, its number of literal segments, methods the specs declare on it)
        self._routes: list[tuple[re.Pattern[str], int, frozenset[str]]] = []
        # Paths without parameters (`/internal/communes`) and their methods, computed on first
        # use: one dict look-up instead of trying every template on each request.
        self._concrete_paths: set[str] = set()
        self._concrete: dict[str, frozenset[str]] | None = None

    # --- SpecMiddleware: connexion registers every API of the app here ---------------------------
    def add_api(self, specification, base_path: str | None = None, **kwargs: t.Any) -> None:
        prefix = (base_path if base_path is not None else specification.base_path or "").rstrip("/")
        for path, item in (specification.raw.get("paths") or {}).items():
            methods = frozenset(m.upper() for m in item if m in HTTP_METHODS)
            if methods:
                self.add_route(prefix + path, methods)

    def add_route(self, template: str, methods: t.Iterable[str]) -> None:
        """Declare the methods served on an OpenAPI path template such as `/families/{id}`."""
        parts = _PATH_PARAMETER.split(template)
        regex = "[^/]+".join(re.escape(part) for part in parts)
        literal_segments = sum(1 for segment in template.split("/") if segment and not _PATH_PARAMETER.search(segment))
        self._routes.append((re.compile(regex + r"\Z", re.DOTALL), literal_segments, frozenset(methods)))
        if len(parts) == 1:
            self._concrete_paths.add(template)
        self._concrete = None

    def allowed_methods(self, path: str) -> set[str]:
        """The methods of the path templates matching `path`; a concrete path wins over a
        templated one (OpenAPI path matching). Empty when no spec declares the path."""
        if self._concrete is None:
            self._concrete = {concrete: frozenset(self._scan(concrete)) for concrete in self._concrete_paths}
        known = self._concrete.get(path)
        return set(known) if known is not None else self._scan(path)

    def _scan(self, path: str) -> set[str]:
        matches = [(literal, methods) for pattern, literal, methods in self._routes if pattern.match(path)]
        if not matches:
            return set()
        most_concrete = max(literal for literal, _ in matches)
        allowed = set().union(*(methods for literal, methods in matches if literal == most_concrete))
        if "GET" in allowed:
            allowed.add("HEAD")  # served with every GET, as the router does
        return allowed

    # --- ASGI -------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _CONTROL_CHARACTERS.search(scope.get("path", "")):
            await _send_problem(send, PATH_CONTROL_CHARACTER)
            return
        if b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            await _send_problem(send, QUERY_NUL_CHARACTER)
            return
        allowed = self.allowed_methods(scope.get("path", ""))
        if allowed and scope.get("method", "GET").upper() not in allowed:
            await _send_problem(send, METHOD_NOT_ALLOWED, status=405, title="Méthode non autorisée",
                                headers=[(b"allow", ", ".join(sorted(allowed)).encode("latin-1"))])
            return
        scope = _media_type_in_lowercase(scope)
        if _is_json(scope):
            body, more = await _read_body(receive)
            detail = _json_body_problem(body)
            if detail:
                await _send_problem(send, detail)
                return
            receive = _replay(body, more, receive)
        await self.app(scope, receive, send)


# --- request body ---------------------------------------------------------------------------------
def _media_type_in_lowercase(scope: Scope) -> Scope:
    """Media types are case-insensitive (RFC 9110) but connexion compares them as written: with
    `Application/JSON` it skipped the body's validation and handed the operation bytes (a 500).
    Forms and uploads (`Application/X-WWW-Form-Urlencoded`, `Multipart/Form-Data`) were read
    either way (starlette and werkzeug parse the media type); a media type an operation does not
    take is connexion's 415 problem (tests: requests' upload, billing's notification, gateway's forms)."""
    headers = scope.get("headers", [])
    for n, (key, value) in enumerate(headers):
        if key.lower() == b"content-type":
            media_type, sep, parameters = value.partition(b";")
            lowered = media_type.strip().lower()
            if lowered == media_type:
                return scope
            headers = [*headers[:n], (key, lowered + sep + parameters), *headers[n + 1:]]
            return {**scope, "headers": headers}
    return scope


def _is_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json" or media_type.endswith(b"+json")
    return False


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and any non-body message received while reading it (a disconnect)."""
    chunks: list[bytes] = []
    others: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            others.append(message)
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), others


def _replay(body: bytes, others: list[Message], receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *others]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _json_body_problem(body: bytes) -> str | None:
    """Why this JSON body must be refused here, or None (connexion judges the rest)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return BODY_NOT_UTF8
    if "\\" not in text and "\x00" not in text:
        return None  # no escape sequence: nothing below can be hidden in it
    try:
        document = json.loads(text)
    except ValueError:
        return None  # not JSON: connexion answers its own 400
    return BODY_FORBIDDEN_CHARACTER if _has_unstorable_text(document) else None


def _has_unstorable_text(value: t.Any) -> bool:
    if isinstance(value, str):
        return _unstorable(value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable_text(v) for v in value)
    return False


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return True
    return False


# --- response ---------------------------------------------------------------------------------------
async def _send_problem(send: Send, detail: str, status: int = 400, title: str = "Requête invalide",
                        headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail},
                      ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def install(app) -> None:
    """Put the guard in front of a connexion app (FlaskApp or AsyncApp), before it first serves."""
    from connexion.middleware import MiddlewarePosition

    app.add_middleware(RequestGuard, position=MiddlewarePosition.BEFORE_EXCEPTION)
