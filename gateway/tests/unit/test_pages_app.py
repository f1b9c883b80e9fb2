"""gateway.pages_app.PagesFlask builds the same URLs as Flask, each relative URL once."""
import pytest
from flask import Blueprint, Flask, url_for
from werkzeug.routing import MapAdapter

from gateway.pages_app import PagesFlask


def _app(cls):
    app = cls(__name__)
    bp = Blueprint("shop", __name__, url_prefix="/boutique")

    @bp.get("/articles/<item>")
    def item(item):
        return ""

    @bp.get("/panier")
    def cart():
        return ""

    @app.get("/")
    def home():
        return ""

    app.register_blueprint(bp)
    return app


CASES = [
    ("home", {}), ("static", {"filename": "css/app.css"}), ("shop.item", {"item": "a b/é"}),
    ("shop.item", {"item": "x", "mois": "2027-01", "enfant": None}), ("shop.item", {"mois": "2027-01", "item": "x"}),
    ("shop.cart", {"enfant": ["c1", "c2"]}), (".cart", {}), (".item", {"item": "y"}),
]


@pytest.mark.parametrize("script_root", ["", "/espace"])
@pytest.mark.parametrize("path", ["/", "/boutique/panier"])
def test_the_same_urls_as_flask(script_root, path):
    flask_app, pages_app = _app(Flask), _app(PagesFlask)
    for endpoint, values in CASES:
        if endpoint.startswith(".") and not path.startswith("/boutique"):
            continue  # relative to the request's blueprint: there is none
        urls = []
        for app in (flask_app, pages_app):
            with app.test_request_context(path, environ_base={"SCRIPT_NAME": script_root}):
                urls.append([url_for(endpoint, **values) for _ in range(2)])
        assert urls[0] == urls[1], (endpoint, values)
    with pages_app.test_request_context(path):
        assert url_for("home", _external=True) == "http://localhost/"
        assert url_for("shop.cart", _anchor="total") == "/boutique/panier#total"


def test_each_relative_url_is_built_once(monkeypatch):
    builds = []
    real = MapAdapter.build
    monkeypatch.setattr(MapAdapter, "build", lambda self, *a, **k: builds.append(a[0]) or real(self, *a, **k))
    app = _app(PagesFlask)
    for _ in range(3):
        with app.test_request_context("/"):
            url_for("static", filename="css/app.css")
            url_for("shop.item", item="x")
            url_for("shop.cart", enfant=["c1"])  # a list: built each time
    assert builds == ["static", "shop.item", "shop.cart", "shop.cart", "shop.cart"]


def test_a_cart_line_reads_as_attributes_and_stays_a_dict():
    from jinja2 import Environment

    from gateway.web.reservations_view import Line

    line = Line({"title": "lundi 4 janvier", "reason": None}, action="book")
    assert line == {"title": "lundi 4 janvier", "reason": None, "action": "book"} and isinstance(line, dict)
    assert (line.title, line.action, line.reason) == ("lundi 4 janvier", "book", None)
    with pytest.raises(AttributeError):
        line.outcome_label
    page = Environment().from_string("{{ l.title }}|{{ l.action }}|{% if l.reason %}x{% endif %}|{{ l.absent }}|{{ l['title'] }}")
    assert page.render(l=line) == "lundi 4 janvier|book|||lundi 4 janvier"


def test_each_function_is_asked_once_whether_it_is_a_coroutine(monkeypatch):
    import flask.app

    app = PagesFlask(__name__)
    asked = []
    real = flask.app.iscoroutinefunction
    monkeypatch.setattr(flask.app, "iscoroutinefunction", lambda func: asked.append(func) or real(func))

    @app.before_request
    def hook():
        return None

    @app.get("/")
    def home():
        return "page"

    @app.get("/async")
    async def later():
        return "async page"

    class View:  # a callable object (or a bound method): asked each time, as Flask does
        def __call__(self):
            return "object page"

    app.add_url_rule("/object", "object", View())
    client = app.test_client()
    for _ in range(3):
        assert client.get("/").text == "page" and client.get("/async").text == "async page"
    assert sorted(f.__name__ for f in asked) == ["home", "hook", "later"]
    for _ in range(2):
        assert client.get("/object").text == "object page"
    assert len(asked) == 3 + 2  # the object, at each request
