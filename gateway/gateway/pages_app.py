"""The pages' Flask app: Flask, with the relative URLs it builds remembered.

A page builds about twenty URLs (the layout's stylesheets and links, the navigation), the same on
every request, at ~10-15 µs each through werkzeug's URL map: about a tenth of the gateway's CPU
for a booking-rush result page. A relative URL depends only on the endpoint, its arguments (in
their order: the query string keeps it) and the request's script root, so it is built once per
such key. Anything else (an anchor, a method, a scheme, an external URL, a list argument, no
request, URL defaults registered by the app or a blueprint) is built by Flask each time.
"""
from __future__ import annotations

from types import FunctionType

from flask import Flask
from flask.globals import _cv_request

URLS_KEPT = 4096  # then forgotten all at once (ids in URLs: the set of keys is not bounded)
SYNC_KEPT = 1024


class PagesFlask(Flask):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._urls: dict[tuple, str] = {}
        self._sync: dict[FunctionType, object] = {}

    def ensure_sync(self, func):
        """Flask's answer, remembered per plain function: Flask asks `inspect.iscoroutinefunction`
        of every hook, handler and view at every request (~10 per page), and a function's answer
        never changes. Anything else (a bound method, a callable object) is asked each time."""
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        sync = self._sync.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(self._sync) >= SYNC_KEPT:
                self._sync.clear()
            self._sync[func] = sync
        return sync

    def url_for(self, endpoint: str, *, _anchor: str | None = None, _method: str | None = None,
                _scheme: str | None = None, _external: bool | None = None, **values) -> str:
        ctx = _cv_request.get(None)
        if ctx is None or ctx.url_adapter is None or _anchor is not None or _method is not None \
                or _scheme is not None or _external or self.url_default_functions:
            return super().url_for(endpoint, _anchor=_anchor, _method=_method, _scheme=_scheme,
                                   _external=_external, **values)
        key = (endpoint, ctx.request.blueprint if endpoint[:1] == "." else None, ctx.url_adapter.script_name,
               tuple(values.items()))
        try:
            url = self._urls.get(key)
        except TypeError:  # a list argument (repeated query parameter): not remembered
            return super().url_for(endpoint, **values)
        if url is None:
            url = super().url_for(endpoint, **values)
            if len(self._urls) >= URLS_KEPT:
                self._urls.clear()
            self._urls[key] = url
        return url
