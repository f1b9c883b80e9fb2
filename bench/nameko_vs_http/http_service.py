"""The same trivial service over HTTP: GET /ping?value=x returns {"pong": "x"}.

Served by gunicorn (see run_bench.py for the exact command line).
"""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/ping")
def ping():
    return jsonify({"pong": request.args.get("value", "")})
