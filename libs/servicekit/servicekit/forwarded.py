"""The client's address behind trusted reverse proxies, for WSGI apps (Flask pages).

A reverse proxy (the ingress, the gateway in front of identity) connects on the client's
behalf and names the client in `X-Forwarded-For`. Anybody can send that header, so it is
believed only when the connecting peer is a configured trusted proxy; the client is then the
right-most address of the header that is not itself a trusted proxy (each proxy appends the
address it saw). `X-Forwarded-Proto` (http/https) is taken from trusted peers too.

This is the rule of uvicorn's `--forwarded-allow-ips` and gunicorn's FORWARDED_ALLOW_IPS, read
from the same variable: the server applies it before the app, the app applies it again (a
no-op then, the peer being the client already) so that it holds under any server and in tests.

    FORWARDED_ALLOW_IPS="10.0.0.0/8,192.168.1.7"   # addresses or networks; "*" trusts anyone
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

DEFAULT_TRUSTED = "127.0.0.1,::1"  # gunicorn's and uvicorn's default


class TrustedProxies:
    """A set of trusted proxy addresses and networks (and literal names, e.g. a unix socket)."""

    def __init__(self, trusted: str | Iterable[str]):
        items = [t.strip() for t in (trusted.split(",") if isinstance(trusted, str) else trusted)]
        items = [t for t in items if t]
        self.everyone = "*" in items
        self.addresses: set = set()
        self.networks: list = []
        self.literals: set[str] = set()
        for item in items:
            try:
                if "/" in item:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                else:
                    self.addresses.add(ipaddress.ip_address(item))
            except ValueError:
                self.literals.add(item)

    def __contains__(self, host: str | None) -> bool:
        if not host:
            return False
        if self.everyone:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host in self.literals
        return ip in self.addresses or any(ip in net for net in self.networks)

    def client(self, forwarded_for: str) -> str | None:
        """The client named by an X-Forwarded-For header received from a trusted peer."""
        hops = [_host(h) for h in forwarded_for.split(",") if h.strip()]
        if not hops:
            return None
        if self.everyone:
            return hops[0]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0]  # every hop is a trusted proxy: the first one spoke for itself


def _host(value: str) -> str:
    """An X-Forwarded-For entry without its port: "1.2.3.4:5", "[::1]:80", "::1" -> host."""
    value = value.strip()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class ProxyHeaders:
    """WSGI middleware: REMOTE_ADDR and the URL scheme from the forwarded headers of trusted peers."""

    def __init__(self, app, trusted: str | Iterable[str] = DEFAULT_TRUSTED):
        self.app = app
        self.trusted = TrustedProxies(trusted)

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR")
        if peer in self.trusted:
            client = self.trusted.client(environ.get("HTTP_X_FORWARDED_FOR", ""))
            if client:
                environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)
