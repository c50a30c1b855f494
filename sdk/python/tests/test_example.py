"""The Flask example serves the new checkout exactly to the contexts the
flag targets, from a client started from a cache file."""

import sys
from pathlib import Path

import pytest

from conftest import offline_client

flask = pytest.importorskip("flask")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import flask_app  # noqa: E402

STATE = {
    "id": 3,
    "segments": [],
    "flags": [
        {"key": "new-checkout", "kind": "boolean", "enabled": True, "off_variation": 1,
         "variations": [{"value": True}, {"value": False}],
         "rules": [{"id": "nz", "serve": {"variation": 0},
                    "clauses": [{"attribute": "country", "operator": "in", "values": ["NZ"]}]}],
         "fallthrough": {"variation": 1}}
    ],
}


def test_the_handler_follows_the_flag(tmp_path):
    with offline_client(tmp_path, STATE) as client:
        http = flask_app.create_app(client).test_client()
        assert http.get("/checkout", headers={"X-User-Id": "u1", "X-Country": "NZ"}).json == {"checkout": "new"}
        assert http.get("/checkout", headers={"X-User-Id": "u1", "X-Country": "AU"}).json == {"checkout": "classic"}
        assert http.get("/checkout").json == {"checkout": "classic"}
        r = http.get("/healthz")
        assert (r.status_code, r.json["flags"]) == (200, "stale")
