"""Against a real 3-node cluster of `vexil` processes on 127.0.0.1, started
with `vexil-cluster` (from $VEXIL_BIN_DIR, else the workspace's debug
build): the client sees a write made at the leader, fails over when its
node is killed with SIGKILL without missing a change, reports its
evaluation counts, refuses a corrupt cache file, and starts from its cache
with every node down. Skipped when the binaries are missing, unless
VEXIL_REQUIRE_CLUSTER=1 (the test script sets it)."""

import http.client
import json
import os
import secrets
import subprocess
import threading
from pathlib import Path

import pytest

import vexil
from conftest import wait_for

BIN_DIR = Path(
    os.environ.get("VEXIL_BIN_DIR")
    or Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/vexil/target")) / "debug"
)
CLUSTER_BIN = BIN_DIR / "vexil-cluster"
VEXIL_BIN = BIN_DIR / "vexil"

if not (CLUSTER_BIN.exists() and VEXIL_BIN.exists()):
    if os.environ.get("VEXIL_REQUIRE_CLUSTER") == "1":
        raise RuntimeError(f"VEXIL_REQUIRE_CLUSTER=1 but {CLUSTER_BIN} or {VEXIL_BIN} is missing")
    pytest.skip(f"no vexil binaries in {BIN_DIR}", allow_module_level=True)

BOOLS = [{"value": True, "name": "on"}, {"value": False, "name": "off"}]


def flag(key, enabled=False):
    return {"key": key, "kind": "boolean", "variations": BOOLS, "enabled": enabled,
            "off_variation": 1, "fallthrough": {"variation": 0}}


class Cluster:
    """A `vexil-cluster` directory, and admin calls to its nodes."""

    def __init__(self, root: Path):
        self.dir = root / "cluster"
        self.admin = "py-admin-" + secrets.token_hex(12)
        self.env = {**os.environ, "VEXIL_ADMIN_TOKEN": self.admin,
                    "VEXIL_CLUSTER_SECRET": "py-secret-" + secrets.token_hex(12)}
        self.cli("up", "3", timeout=120)
        nodes = json.loads((self.dir / "cluster.json").read_text())["nodes"]
        self.api = {int(i): n["api"] for i, n in nodes.items()}

    def cli(self, *args, timeout=60):
        subprocess.run([str(CLUSTER_BIN), "--dir", str(self.dir), "--bin", str(VEXIL_BIN), *args],
                       env=self.env, check=True, timeout=timeout, capture_output=True)

    def url(self, node_id):
        return f"http://{self.api[node_id]}"

    def urls(self):
        return [self.url(i) for i in sorted(self.api)]

    def request(self, node_id, method, path, body=None, timeout=10):
        host, port = self.api[node_id].rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            headers = {"Authorization": f"Bearer {self.admin}", "Content-Type": "application/json"}
            c.request(method, path, json.dumps(body) if body is not None else None, headers)
            r = c.getresponse()
            data = r.read()
            return r.status, (json.loads(data) if data else None)
        finally:
            c.close()

    def leader(self, among=None):
        """The leader every asked node agrees on, waiting for an election."""
        among = among or sorted(self.api)

        def agreed():
            seen = set()
            for i in among:
                try:
                    status, body = self.request(i, "GET", "/v1/cluster", timeout=2)
                except OSError:
                    return None
                seen.add(body.get("leader") if status == 200 else None)
            return seen.pop() if len(seen) == 1 and None not in seen else None

        return wait_for("an agreed leader", agreed, timeout=30, interval=0.1)

    def write(self, node_id, method, path, body=None):
        """A write through `node_id`, retried while the cluster elects a leader."""

        def attempt():
            status, out = self.request(node_id, method, path, body)
            if status == 503:
                return None
            assert status < 300, (status, out)
            return out

        return wait_for(f"{method} {path} at node {node_id}", attempt, timeout=30, interval=0.1)

    def versions(self, node_id):
        status, body = self.request(node_id, "GET", "/v1/flags?limit=1000")
        assert status == 200, body
        assert body["next_cursor"] is None, "more than one page of flags"
        items = body["flags"]
        return {f["key"]: f["version"] for f in items}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("vexil"))
    status, body = c.request(1, "POST", "/v1/tokens", {"name": "python-sdk-tests", "role": "sdk"})
    assert status == 201, body
    c.sdk_token = body["secret"]
    yield c
    try:
        c.cli("down", timeout=60)
    except subprocess.SubprocessError:
        pass


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache") / "vexil.json"


def client_for(cluster, cache=None, urls=None):
    return vexil.Client(urls or cluster.urls(), cluster.sdk_token, cache_file=cache,
                        backoff_initial=0.05, backoff_max=0.5, connect_timeout=1,
                        metrics_flush_interval=600)


class Changes:
    """A listener that records every change and lets a test wait for one."""

    def __init__(self):
        self.seen = []
        self.cond = threading.Condition()

    def __call__(self, change):
        with self.cond:
            self.seen.append(change)
            self.cond.notify_all()

    def wait_for_version(self, key, version, timeout=30):
        with self.cond:
            ok = self.cond.wait_for(
                lambda: any(c.key == key and c.version == version for c in self.seen), timeout)
        assert ok, f"no change {key} v{version}; saw {self.seen}"


def test_sees_a_write_made_at_the_leader(cluster, cache):
    with client_for(cluster, cache) as client:
        assert client.wait_until_ready(30), client.status
        changes = Changes()
        client.on_change(changes)
        leader = cluster.leader()
        created = cluster.write(leader, "POST", "/v1/flags", flag("py-write"))
        changes.wait_for_version("py-write", created["version"])
        d = client.bool_detail("py-write", {"key": "u1"}, True)
        assert (d.value, d.reason) == (False, "OFF")
        toggled = cluster.write(leader, "POST", "/v1/flags/py-write/toggle", {"enabled": True})
        changes.wait_for_version("py-write", toggled["version"])
        d = client.bool_detail("py-write", {"key": "u1"}, False)
        assert (d.value, d.reason, d.variation_name) == (True, "FALLTHROUGH", "on")

        # Metrics: the counts reach a node.
        for _ in range(7):
            client.bool_value("py-write", {"key": "u1"}, False)
        assert client.flush_metrics() is True

        def counted():
            best = 0
            for i in cluster.api:
                status, body = cluster.request(i, "GET", "/v1/metrics/evaluations?flag=py-write")
                if status == 200:
                    best = max(best, body["totals_1h"].get("py-write", 0))
            return best >= 8

        wait_for("the evaluation counts at a node", counted, timeout=30)
        # The cache file follows (written within 250 ms of a change).
        wait_for("the cache file", lambda: cache.exists())


def test_the_provider_evaluates_locally_and_reports_changes(cluster):
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEvent
    from openfeature.flag_evaluation import Reason

    from vexil.openfeature import VexilProvider

    with client_for(cluster) as client:
        set_and_wait = getattr(api, "set_provider_and_wait", api.set_provider)
        set_and_wait(VexilProvider(client, init_timeout=30), "cluster-test")
        of = api.get_client("cluster-test")
        changed = Changes()
        of.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
                       lambda details: changed(details.flags_changed))
        try:
            created = cluster.write(cluster.leader(), "POST", "/v1/flags", flag("py-of", enabled=True))
            with changed.cond:
                assert changed.cond.wait_for(lambda: ["py-of"] in changed.seen, 30), changed.seen
            d = of.get_boolean_details("py-of", False, EvaluationContext("u1"))
            assert (d.value, d.reason, d.variant) == (True, Reason.STATIC, "on")
            assert d.flag_metadata["version"] == created["version"]
        finally:
            api.clear_providers()


def test_fails_over_on_kill_9_without_missing_a_change(cluster, cache):
    with client_for(cluster, cache) as client:
        assert client.wait_until_ready(30), client.status
        changes = Changes()
        client.on_change(changes)
        node = client.current_node
        victim = next(i for i, a in cluster.api.items() if cluster.url(i) == node)
        survivors = [i for i in cluster.api if i != victim]
        before = cluster.write(survivors[0], "POST", "/v1/flags", flag("py-failover"))
        changes.wait_for_version("py-failover", before["version"])

        cluster.cli("kill", str(victim))
        # Changes made while the client's node is dead, through a survivor.
        last = None
        for i in range(5):
            last = cluster.write(survivors[i % 2], "POST", "/v1/flags/py-failover/toggle",
                                 {"enabled": i % 2 == 0})
        cluster.write(survivors[1], "POST", "/v1/flags", flag("py-failover-2", enabled=True))
        changes.wait_for_version("py-failover", last["version"])
        wait_for("the client on another node", lambda: client.current_node != node)
        assert client.current_node in [cluster.url(i) for i in survivors]
        # Nothing missed: the client holds exactly the cluster's flags.
        expected = cluster.versions(survivors[0])
        wait_for("every flag at the cluster's version", lambda: client.flag_versions() == expected)
        d = client.bool_detail("py-failover-2", {"key": "u"}, False)
        assert (d.value, d.reason) == (True, "FALLTHROUGH")
        d = client.bool_detail("py-failover", {"key": "u"}, True)
        assert d.value is (last["enabled"]), d
        assert client.wait_until_ready(10)
        cluster.cli("restart", str(victim), timeout=120)


def test_refuses_a_corrupt_cache_then_rewrites_it(cluster, tmp_path):
    bad = tmp_path / "bad.json"
    vexil.write_cache_file(bad, {"id": 1, "flags": [flag("stale-flag", enabled=True)], "segments": []})
    raw = bytearray(bad.read_bytes())
    i = raw.index(b"stale-flag")
    raw[i] = ord("S")  # one flipped byte inside the checksummed state
    bad.write_bytes(bytes(raw))
    with client_for(cluster, bad) as client:
        assert "checksum" in (client.cache_warning or ""), client.cache_warning
        assert client.bool_detail("stale-flag", None, False).error in ("CLIENT_NOT_READY", "FLAG_NOT_FOUND")
        assert client.wait_until_ready(30)
        assert client.bool_detail("stale-flag", None, False).error == "FLAG_NOT_FOUND"
        assert client.bool_detail("py-write", {"key": "u"}, False).value is True
        state_id = client.state_id

        def rewritten():
            try:
                return json.loads(json.loads(bad.read_text())["state"])["id"] >= state_id
            except (ValueError, KeyError):
                return False

        wait_for("the cache file rewritten from the node", rewritten)


def test_starts_from_its_cache_with_every_node_down(cluster, cache):
    with client_for(cluster, cache) as live:
        assert live.wait_until_ready(30)
        # Ready means streaming; a client resuming from its cache gets the
        # changes it missed just after. Wait until it holds the cluster's flags.
        versions = cluster.versions(cluster.leader())
        wait_for("the cluster's flags", lambda: live.flag_versions() == versions)
        expected = {k: (d.value, d.variation) for k, d in live.all_flags({"key": "u"}).items()}
        expected_id = live.state_id
        assert "py-failover-2" in expected

        def cached():
            try:
                return json.loads(json.loads(cache.read_text())["state"])["id"] == expected_id
            except (ValueError, KeyError):
                return False

        wait_for("the cache file at the live state", cached)
    cluster.cli("down", timeout=60)
    with client_for(cluster, cache) as client:
        assert client.cache_warning is None
        assert client.status.state == "stale"
        assert client.state_id == expected_id
        got = {k: (d.value, d.variation) for k, d in client.all_flags({"key": "u"}).items()}
        assert got == expected
        assert client.bool_value("py-failover-2", {"key": "u"}, False) is True
        assert client.wait_until_ready(0.5) is False
        s = wait_for("a reason for being stale", lambda: client.status.reason != "serving the cache file until a node answers" and client.status)
        assert s.state == "stale"
