"""A Flask handler gated on a Vexil flag.

    VEXIL_URLS=http://127.0.0.1:7070 VEXIL_SDK_TOKEN=vxl_sdk_... \\
        flask --app examples/flask_app.py run

One client per process, created at start-up (after a fork, with gunicorn:
in ``post_fork``); every request evaluates from memory, never calling the
cluster, and gets the default (``False``: the old checkout) when no state
could be had.
"""

import atexit
import os

from flask import Flask, jsonify, request

import vexil


def create_app(client: vexil.Client) -> Flask:
    app = Flask(__name__)

    @app.get("/checkout")
    def checkout():
        ctx = {
            "key": request.headers.get("X-User-Id", ""),
            "country": request.headers.get("X-Country"),  # None: not set
        }
        if client.bool_value("new-checkout", ctx, False):
            return jsonify(checkout="new")
        return jsonify(checkout="classic")

    @app.get("/healthz")
    def healthz():
        s = client.status
        return jsonify(flags=s.state, reason=s.reason), (200 if s.state in ("ready", "stale") else 503)

    return app


def main() -> Flask:
    client = vexil.Client(
        os.environ.get("VEXIL_URLS", "http://127.0.0.1:7070").split(","),
        os.environ["VEXIL_SDK_TOKEN"],
        cache_file=os.environ.get("VEXIL_CACHE_FILE", "/tmp/vexil-flask-example.json"),
    )
    client.wait_until_ready(5)  # best effort: the cache file or defaults serve meanwhile
    atexit.register(client.close)
    return create_app(client)


if os.environ.get("VEXIL_SDK_TOKEN"):
    app = main()
