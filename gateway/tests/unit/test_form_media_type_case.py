"""Media types are case-insensitive (RFC 9110): a page's form posted as
`Application/X-WWW-Form-Urlencoded` or `Multipart/Form-Data` is read as one in lowercase (its CSRF
token found, the action done), through the whole ASGI stack (servicekit.asgi_guard in front)."""
import re
from urllib.parse import urlencode

import httpx
import pytest

from helpers import PARENT, sign_in


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _body(content_type: str, token: str) -> tuple[bytes, str]:
    if content_type.lower().startswith("multipart/"):
        request = httpx.Request("POST", "http://x/", data={"csrf_token": token},
                                files=[("f", ("a.txt", b"a", "text/plain"))])
        boundary = request.headers["content-type"].partition("boundary=")[2]
        return request.read(), f"{content_type}; boundary={boundary}"
    return urlencode({"csrf_token": token}).encode(), content_type


@pytest.mark.parametrize("content_type", ["Application/X-WWW-Form-Urlencoded",
                                          "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8",
                                          "Multipart/Form-Data"])
def test_a_form_posted_with_its_media_type_in_capitals_is_read(client, flask_app, clock, content_type):
    sign_in(client, flask_app, PARENT, clock.now)
    body, header = _body(content_type, _csrf_token(client.get("/").text))
    resp = client.post("/auth/logout", content=body, headers={"Content-Type": header}, follow_redirects=False)
    assert resp.status_code == 302, resp.text
    assert client.get("/api/me").status_code == 401  # signed out: the form was read
