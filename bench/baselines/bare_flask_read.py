"""The baseline of bench/service_read.py: a bare Flask app doing the same read as identity's
`GET /internal/communes` (one SQLAlchemy Core query on a pooled connection, same JSON shape),
served by gunicorn with sync workers. No validation, no token, no metrics: the floor.

    DATABASE_URL=... gunicorn -w 2 -b 127.0.0.1:PORT bench.baselines.bare_flask_read:app
"""
import os

import sqlalchemy as sa
from flask import Flask, jsonify

url = sa.make_url(os.environ["DATABASE_URL"])
if url.drivername == "postgresql":
    url = url.set(drivername="postgresql+psycopg")
engine = sa.create_engine(url, pool_size=5)
communes = sa.table("communes", sa.column("slug"), sa.column("name"))
query = sa.select(communes.c.slug, communes.c.name).order_by(communes.c.name)

app = Flask(__name__)


@app.get("/internal/communes")
def list_communes():
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return jsonify({"items": [{"slug": slug, "name": name} for slug, name in rows]})
