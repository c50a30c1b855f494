"""Shared helpers: where the conformance suite is, a URL nothing listens on,
clients started offline from a cache file, and bounded polling."""

import json
import os
import socket
import time
from pathlib import Path

import pytest

import vexil

HERE = Path(__file__).resolve().parent
# The suite is read from the repository (the tests run against the installed
# wheel, from a copy of this directory, so the path can be given).
CONFORMANCE = Path(os.environ.get("VEXIL_CONFORMANCE_DIR", HERE.parent.parent / "conformance"))


def dead_url() -> str:
    """A 127.0.0.1 URL whose port was free a moment ago: dials are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def wait_for(what, check, timeout=30.0, interval=0.02):
    """Polls ``check()`` until it returns something truthy, failing the test
    after ``timeout`` seconds; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def offline_client(tmp_path, state, **kwargs) -> vexil.Client:
    """A client started from a cache file holding ``state`` (a
    ``StateSnapshot`` dict; ``None``: no cache file), with no reachable node."""
    cache = None
    if state is not None:
        cache = tmp_path / "cache.json"
        vexil.write_cache_file(cache, state)
    kwargs.setdefault("backoff_initial", 0.05)
    kwargs.setdefault("backoff_max", 0.2)
    return vexil.Client([dead_url()], "sdk-token", cache_file=cache, **kwargs)


def load_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def same(a, b) -> bool:
    """Numbers compare by value (3 == 3.0); bools are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
