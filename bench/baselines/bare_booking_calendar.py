"""The baseline of bench/booking_calendar.py: a bare Flask app serving a child's month calendar
with the same use case as booking (`booking.parents.month_calendar`) on a plain SQLAlchemy
session (one transaction, rolled back), served by gunicorn with sync workers. No connexion, no
validation, no token check (the caller is the bench's parent, from the environment), no
metrics: the floor for the same work.

    DATABASE_URL=... BENCH_FAMILY_ID=... gunicorn -w 2 -b 127.0.0.1:PORT bench.baselines.bare_booking_calendar:app
"""
import os

import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy.orm import Session

from booking.parents import month_calendar
from servicekit.tokens import Caller

url = sa.make_url(os.environ["DATABASE_URL"])
if url.drivername == "postgresql":
    url = url.set(drivername="postgresql+psycopg")
engine = sa.create_engine(url, pool_size=5)
caller = Caller(sub="bench-parent", role="parent", family_id=os.environ["BENCH_FAMILY_ID"])

app = Flask(__name__)


@app.get("/internal/parent/children/<child_id>/calendar")
def calendar(child_id):
    with Session(engine) as session:
        body = month_calendar(session, caller, child_id, request.args["service_id"], request.args["month"])
        session.rollback()
    return jsonify(body)
