"""The client without a reachable node: configuration errors, the cache
file (used, and refused when damaged), status, waits (sync and asyncio),
the context manager and close, all_flags, and listeners' bookkeeping."""

import asyncio
import json
import time

import pytest

import vexil
from conftest import dead_url, offline_client, wait_for

BOOLS = [{"value": True, "name": "on"}, {"value": False, "name": "off"}]
STATE = {
    "id": 41,
    "segments": [],
    "flags": [
        {"key": "checkout", "kind": "boolean", "variations": BOOLS, "enabled": True,
         "off_variation": 1, "fallthrough": {"variation": 0}, "version": 3},
        {"key": "plan", "kind": "string", "enabled": True, "off_variation": 0,
         "variations": [{"value": "free"}, {"value": "gold"}],
         "targets": [{"variation": 1, "values": ["vip"]}], "fallthrough": {"variation": 0}},
        {"key": "limits", "kind": "json", "enabled": True, "off_variation": 0,
         "variations": [{"value": {"rps": 10, "burst": 2.5, "tags": ["a"]}}],
         "fallthrough": {"variation": 0}},
    ],
}


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"urls": []}, vexil.ConfigError, "urls"),
        ({"urls": ["https://x:1"]}, vexil.ConfigError, "urls"),
        ({"urls": 7}, TypeError, "urls"),
        ({"urls": [7]}, TypeError, "urls"),
        ({"sdk_token": ""}, vexil.ConfigError, "token"),
        ({"sdk_token": None}, TypeError, "sdk_token"),
        ({"connect_timeout": 0}, vexil.ConfigError, "connect_timeout"),
        ({"read_timeout": -1}, vexil.ConfigError, "read_timeout"),
        ({"poll_interval": float("nan")}, vexil.ConfigError, "poll_interval"),
        ({"backoff_initial": 5, "backoff_max": 1}, vexil.ConfigError, "backoff"),
        ({"metrics_flush_interval": "soon"}, TypeError, "metrics_flush_interval"),
    ],
)
def test_misuse_raises_naming_the_argument(kwargs, error, match):
    args = {"urls": ["http://127.0.0.1:1"], "sdk_token": "t", **kwargs}
    with pytest.raises(error, match=match):
        vexil.Client(args.pop("urls"), args.pop("sdk_token"), **args)
    assert issubclass(vexil.ConfigError, ValueError)


def test_a_single_url_string_is_accepted(tmp_path):
    with offline_client(tmp_path, STATE) as c:
        assert c.current_node.startswith("http://127.0.0.1:")
    with vexil.Client(dead_url(), "t") as c:
        assert c.current_node.startswith("http://127.0.0.1:")


def test_starts_from_the_cache_file_as_stale(tmp_path):
    with offline_client(tmp_path, STATE) as c:
        s = c.status
        assert s.state == "stale" and not s.ready and s.since is not None
        assert c.state_id == 41
        assert c.cache_warning is None
        assert c.bool_value("checkout", {"key": "u"}, False) is True
        assert c.string_value("plan", {"key": "vip"}, "x") == "gold"
        assert c.json_value("limits", None, {}) == {"rps": 10, "burst": 2.5, "tags": ["a"]}
        assert c.number_value("checkout", None, 1.5) == 1.5, "wrong type: the default"
        d = c.bool_detail("checkout", {"key": "u"}, False)
        assert (d.value, d.variation, d.variation_name, d.reason, d.error) == (True, 0, "on", "FALLTHROUGH", None)
        # Not ready: a node never answered.
        started = time.monotonic()
        assert c.wait_until_ready(0.3) is False
        assert 0.25 < time.monotonic() - started < 5


def test_all_flags(tmp_path):
    with offline_client(tmp_path, STATE) as c:
        everything = c.all_flags({"key": "vip"})
        assert set(everything) == {"checkout", "plan", "limits"}
        assert everything["plan"].value == "gold" and everything["plan"].reason == "TARGET_MATCH"
        assert everything["limits"].value["rps"] == 10
        refused = c.all_flags({"key": "vip", "nested": {"a": 1}})
        assert {d.error for d in refused.values()} == {"INVALID_CONTEXT"}


def test_no_state_and_no_node_goes_offline_and_serves_defaults(tmp_path):
    with offline_client(tmp_path, None) as c:
        d = c.string_detail("plan", {"key": "vip"}, "fallback")
        assert (d.value, d.reason, d.error) == ("fallback", "ERROR", "CLIENT_NOT_READY")
        assert c.state_id is None
        s = wait_for("offline", lambda: c.status.state == "offline" and c.status)
        assert "refused" in (s.reason or "").lower() or s.reason


def test_a_corrupt_cache_file_is_refused(tmp_path):
    path = tmp_path / "cache.json"
    vexil.write_cache_file(path, STATE)
    raw = json.loads(path.read_text())
    raw["state"] = raw["state"].replace('"id":41', '"id":42')  # the checksum no longer matches
    path.write_text(json.dumps(raw))
    with vexil.Client([dead_url()], "t", cache_file=path) as c:
        assert "checksum" in (c.cache_warning or "")
        assert c.state_id is None
        assert c.bool_detail("checkout", None, False).error == "CLIENT_NOT_READY"
    path.write_bytes(b"\x00not json")
    with vexil.Client([dead_url()], "t", cache_file=str(path)) as c:
        assert "not a Vexil SDK cache file" in (c.cache_warning or "")


def test_close_and_the_context_manager(tmp_path):
    c = offline_client(tmp_path, STATE)
    with c as same:
        assert same is c
        assert c.bool_value("checkout", None, False) is True
    assert c.status.state == "closed"
    d = c.bool_detail("checkout", None, False)
    assert (d.value, d.error) == (False, "CLIENT_NOT_READY")
    assert c.bool_value("checkout", None, False) is False
    assert c.all_flags(None) == {}
    assert c.wait_until_ready(0.1) is False
    assert c.flush_metrics() is False
    c.close()  # idempotent


def test_wait_until_ready_async_does_not_block_the_loop(tmp_path):
    async def main(c):
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        ready = await c.wait_until_ready_async(0.3)
        t.cancel()
        return ready, ticks

    with offline_client(tmp_path, STATE) as c:
        ready, ticks = asyncio.run(main(c))
        assert ready is False
        assert ticks >= 5, "the event loop ran while waiting"


def test_listeners_are_added_and_removed(tmp_path):
    with offline_client(tmp_path, STATE) as c:
        seen = []

        @c.on_change
        def listener(change):
            seen.append(change)

        assert c.remove_listener(listener) is True
        assert c.remove_listener(listener) is False
        with pytest.raises(TypeError):
            c.on_change("not callable")


def test_wrong_argument_types_are_misuse(tmp_path):
    with offline_client(tmp_path, STATE) as c:
        with pytest.raises(TypeError):
            c.bool_value(7, None, False)
        with pytest.raises(TypeError):
            c.bool_value("checkout", None, "yes")
        with pytest.raises(ValueError, match="timeout"):
            c.wait_until_ready(-1)


def test_a_client_dropped_without_close_is_freed_with_its_listener_thread(tmp_path):
    import gc
    import weakref

    c = offline_client(tmp_path, STATE)
    c.on_change(lambda change: None)
    thread = c._listener_thread
    assert thread is not None and thread.is_alive()
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None, "the listener thread must not keep the client alive"
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_exiting_with_a_listener_and_without_close_is_clean(tmp_path):
    """The interpreter must not abort at exit while a listener thread waits
    in the extension (CPython ends such threads with a forced unwind)."""
    import subprocess
    import sys

    cache = tmp_path / "cache.json"
    vexil.write_cache_file(cache, STATE)
    script = (
        "import vexil\n"
        f"c = vexil.Client([{dead_url()!r}], 't', cache_file={str(cache)!r})\n"
        "c.on_change(lambda change: None)\n"
        f"d = vexil.Client([{dead_url()!r}], 't')\n"
        "d.on_change(print)\n"
        "print('bye')\n"
    )
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout.strip()) == (0, "bye"), r.stderr
