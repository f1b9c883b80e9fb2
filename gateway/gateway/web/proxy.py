"""`/oidc/*` routed unchanged to identity's `/oidc/*` (its OpenID endpoints and sign-in pages).

Method, query, body (streamed), cookies, Host and end-to-end headers go through; identity learns
the client's address and scheme from X-Forwarded-For/-Proto, which the gateway sets itself
(any it received are dropped: the gateway's own view of the client comes from trusted proxies
only, see FORWARDED_ALLOW_IPS). Status, headers (Set-Cookie, Location…)
and body (streamed, still encoded) come back unchanged. Redirects are not followed.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request, stream_with_context

from gateway import clients
from gateway.errors import render_error

log = logging.getLogger(__name__)

bp = Blueprint("proxy", __name__)

# Hop-by-hop headers (RFC 9110 §7.6.1) concern one connection, never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "proxy-connection"}
CHUNK = 64 * 1024


def _session():
    # No automatic retries: a proxied POST must reach identity at most once.
    return clients.pooled_session("identity-proxy", retries=False)


class SizedStream:
    """The incoming body, read as it is sent on: with a length, requests sends Content-Length
    (not chunked encoding, which some servers refuse)."""

    def __init__(self, stream, length: int):
        self.stream = stream
        self.length = length

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def __iter__(self):
        while chunk := self.stream.read(CHUNK):
            yield chunk


def _forward_headers() -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in HOP_BY_HOP and k.lower() not in ("content-length", "forwarded")
               and not k.lower().startswith("x-forwarded-")}
    # The client as the gateway established it (the ingress's header is believed only from a
    # trusted proxy, see servicekit.forwarded): identity trusts the gateway for exactly this.
    headers["X-Forwarded-For"] = request.remote_addr or ""
    headers["X-Forwarded-Proto"] = request.scheme
    # The browser's Host goes through unchanged, as a reverse proxy does: identity's CSRF
    # referrer check compares against it.
    headers["Host"] = request.host
    headers["X-Forwarded-Host"] = request.host
    return headers


@bp.route("/oidc", defaults={"path": ""}, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@bp.route("/oidc/<path:path>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def oidc_proxy(path: str):
    settings = current_app.config["SERVICE_SETTINGS"]
    url = f"{settings.identity_url}/oidc/{path}" if path else f"{settings.identity_url}/oidc"
    length = request.content_length
    if length:
        body = SizedStream(request.stream, length)
    elif request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = iter(lambda: request.stream.read(CHUNK), b"")  # sent on chunked, as received
    else:
        body = None
    headers = _forward_headers()
    try:
        upstream = _session().request(
            request.method, url, params=request.query_string.decode("latin-1") or None, data=body,
            headers=headers, stream=True, allow_redirects=False,
            timeout=(clients.CONNECT_TIMEOUT, clients.READ_TIMEOUT))
    except clients.http.RequestException as exc:
        log.warning("identity unreachable through /oidc proxy: %s", exc)
        return render_error(503)
    raw = upstream.raw
    if upstream.is_redirect:
        # With allow_redirects=False, requests still reads a redirect's body (to release the
        # connection), decoded: send that body on, with the length and encoding it now has.
        skip = HOP_BY_HOP | {"content-length", "content-encoding"}
        body_out = upstream.content
        upstream.close()
    else:
        skip = HOP_BY_HOP

        def body_out():
            try:
                yield from raw.stream(CHUNK, decode_content=False)
            finally:
                upstream.close()

        body_out = stream_with_context(body_out())
    response = Response(body_out, status=upstream.status_code)
    response.headers.clear()
    for k, v in raw.headers.items():
        if k.lower() not in skip:
            response.headers.add(k, v)
    if upstream.is_redirect:
        response.headers["Content-Length"] = str(len(body_out))
    # Flask must not re-encode or sniff: the body is passed through as identity sent it.
    response.direct_passthrough = True
    return response
