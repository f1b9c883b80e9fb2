import pytest

from servicekit.forwarded import ProxyHeaders, TrustedProxies


@pytest.mark.parametrize("trusted, host, expected", [
    ("127.0.0.1,::1", "127.0.0.1", True),
    ("127.0.0.1,::1", "::1", True),
    ("127.0.0.1,::1", "10.0.0.1", False),
    ("10.0.0.0/8", "10.42.1.7", True),
    ("10.0.0.0/8", "192.168.1.1", False),
    ("*", "203.0.113.9", True),
    ("", "127.0.0.1", False),
    ("testclient", "testclient", True),
    ("10.0.0.0/8", None, False),
])
def test_who_is_a_trusted_proxy(trusted, host, expected):
    assert (host in TrustedProxies(trusted)) is expected


@pytest.mark.parametrize("header, client", [
    ("203.0.113.9", "203.0.113.9"),
    ("198.51.100.1, 203.0.113.9", "203.0.113.9"),         # the left entry was written by the client
    ("203.0.113.9, 10.0.0.5", "203.0.113.9"),             # an inner proxy is skipped
    ("203.0.113.9:5123, [2001:db8::1]:443", "2001:db8::1"),
    ("10.0.0.4, 10.0.0.5", "10.0.0.4"),                   # only proxies: the first one
    ("", None),
])
def test_the_client_is_the_right_most_untrusted_hop(header, client):
    assert TrustedProxies("10.0.0.0/8").client(header) == client


def seen_by(trusted, peer, headers):
    seen = {}

    def app(environ, start_response):
        seen.update(addr=environ["REMOTE_ADDR"], scheme=environ["wsgi.url_scheme"])
        return []

    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", **headers}
    ProxyHeaders(app, trusted)(environ, lambda *a: None)
    return seen


def test_forwarded_headers_of_a_trusted_peer_are_used():
    headers = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_X_FORWARDED_PROTO": "https"}
    assert seen_by("10.0.0.0/8", "10.1.2.3", headers) == {"addr": "203.0.113.9", "scheme": "https"}


def test_forwarded_headers_of_anybody_else_are_ignored():
    headers = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_X_FORWARDED_PROTO": "https"}
    assert seen_by("10.0.0.0/8", "198.51.100.7", headers) == {"addr": "198.51.100.7", "scheme": "http"}


def test_an_odd_forwarded_proto_is_ignored():
    assert seen_by("*", "10.1.2.3", {"HTTP_X_FORWARDED_PROTO": "javascript"})["scheme"] == "http"
