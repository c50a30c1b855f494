#!/usr/bin/env python3
"""The flood of scripts/flood.sh: attackers and probes against a local cluster.

    flood.py attack CLUSTER_JSON SECONDS SOURCE_IP SDK_TOKEN
    flood.py probe  CLUSTER_JSON SECONDS ADMIN_TOKEN OUT_JSON

`attack` runs, for SECONDS, from SOURCE_IP (a loopback address) against the
API and peer ports of every node (127.0.0.1): unauthenticated large bodies,
slowloris (headers never finished), idle sockets, made-up HTTP methods
without a token, wrong tokens, and /v1/stream subscribers that never read.
Every kind is bounded in sockets; a closed socket is opened again until the
time is up. `probe` measures, from 127.0.0.1 and on a new connection each
time, /healthz on every node, a write through the leader, and each node's
RSS, and writes what it saw to OUT_JSON.
"""

import asyncio
import http.client
import json
import random
import resource
import string
import sys
import threading
import time

# Sockets per node: idle and slowloris ones split between its API and peer
# ports (3 nodes: about 10,000 in all); the rest per target port.
IDLE = 1600
SLOWLORIS = 1600
STALLED_STREAMS = 150
BIG_BODIES = 4
OFREP_BODIES = 50
METHODS = 2
WRONG_TOKENS = 1


def nodes(cluster_json):
    with open(cluster_json) as f:
        found = json.load(f)["nodes"]
    return list(found.values()) if isinstance(found, dict) else found


def split(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


class Attack:
    def __init__(self, seconds, source):
        self.deadline = time.monotonic() + seconds
        self.source = source
        last = int(source.rsplit(".", 1)[1])
        self.wrong_source = source.rsplit(".", 1)[0] + f".{last % 250 + 1}"
        self.counts = {}

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def live(self):
        return time.monotonic() < self.deadline

    async def connect(self, addr, source=None):
        host, port = split(addr)
        return await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(source or self.source, 0)), 5
        )

    async def hold(self, addr, kind, first, trickle=None):
        """Opens a socket, sends `first`, then (slowloris) a header line now
        and then, never reading; again once the server closes it."""
        while self.live():
            try:
                r, w = await self.connect(addr)
            except (OSError, asyncio.TimeoutError):
                self.count(kind + ":connect-failed")
                await asyncio.sleep(0.5)
                continue
            self.count(kind + ":opened")
            try:
                if first:
                    w.write(first)
                while self.live():
                    if trickle:
                        w.write(trickle)
                        await w.drain()
                    try:
                        # Never reads the answer: waits for the close only.
                        await asyncio.wait_for(wait_closed(r), 2)
                        self.count(kind + ":closed-by-node")
                        break
                    except asyncio.TimeoutError:
                        pass
            except OSError:
                self.count(kind + ":closed-by-node")
            finally:
                w.close()
            await asyncio.sleep(0.2)

    async def request_loop(self, addr, kind, make, body=0, source=None):
        """One request per connection: headers (and up to `body` bytes of
        body), then the status. A node that answers before the body is sent
        closes the connection: the send then fails ("refused-unread")."""
        while self.live():
            try:
                r, w = await self.connect(addr, source)
                w.write(make())
                sent, chunk = 0, b"x" * 65536
                while sent < body and self.live():
                    w.write(chunk)
                    await asyncio.wait_for(w.drain(), 5)
                    sent += len(chunk)
                line = await asyncio.wait_for(r.readline(), 10)
                status = line.split(b" ")[1].decode() if line.count(b" ") >= 1 else "closed"
                self.count(f"{kind}:{status}")
                w.close()
            except OSError:
                self.count(kind + ":refused-unread")
                await asyncio.sleep(0.1)
            except (asyncio.TimeoutError, IndexError):
                self.count(kind + ":error")
                await asyncio.sleep(0.1)

    async def run(self, cluster, sdk_token):
        tasks = []
        for n in cluster:
            for port in (n["api"], n["peer"]):
                for _ in range(IDLE // 2):
                    tasks.append(self.hold(port, "idle", b""))
                for _ in range(SLOWLORIS // 2):
                    tasks.append(
                        self.hold(port, "slowloris", b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-a: b\r\n")
                    )
            big = lambda path: lambda: (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {250 << 20}\r\n\r\n"
            ).encode()
            # Under the API's 1 MiB limit, so only authenticating first
            # keeps the node from reading it (issue 21, item 5).
            ofrep = lambda: (
                "POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 1000000\r\n\r\n"
            ).encode()
            for _ in range(OFREP_BODIES):
                tasks.append(self.request_loop(n["api"], "ofrep-1mb", ofrep, 1000000))
            for _ in range(BIG_BODIES):
                tasks.append(self.request_loop(n["api"], "big-api", big("/ofrep/v1/evaluate/flags"), 8 << 20))
                tasks.append(self.request_loop(n["api"], "big-api-flags", big("/v1/flags/x"), 8 << 20))
                tasks.append(self.request_loop(n["peer"], "big-peer", big("/raft/append"), 8 << 20))
                tasks.append(self.request_loop(n["peer"], "big-peer-snap", big("/raft/snapshot"), 8 << 20))
            for _ in range(METHODS):
                method = lambda: (
                    "".join(random.choices(string.ascii_uppercase, k=8))
                    + " /v1/flags HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                ).encode()
                tasks.append(self.request_loop(n["api"], "made-up-method", method))
            for _ in range(WRONG_TOKENS):
                wrong = lambda: (
                    "GET /v1/flags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-0123456789\r\n"
                    "Connection: close\r\n\r\n"
                ).encode()
                # From an address of its own: the back-off it earns would
                # otherwise answer 429 to the rest of the attack.
                tasks.append(self.request_loop(n["api"], "wrong-token", wrong, source=self.wrong_source))
            stream = (
                f"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sdk_token}\r\n\r\n"
            ).encode()
            for _ in range(STALLED_STREAMS):
                tasks.append(self.hold(n["api"], "stalled-stream", stream))
        await asyncio.gather(*tasks)


async def wait_closed(reader):
    """Resolves when the node closes the socket (reads and drops anything sent)."""
    while await reader.read(65536):
        pass


def attack(cluster_json, seconds, source, sdk_token):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    a = Attack(float(seconds), source)
    asyncio.run(a.run(nodes(cluster_json), sdk_token))
    for k in sorted(a.counts):
        print(f"  {k}: {a.counts[k]}", file=sys.stderr)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def timed(addr, method, path, token=None, body=None):
    host, port = split(addr)
    started = time.monotonic()
    try:
        c = http.client.HTTPConnection(host, port, timeout=5)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        c.request(method, path, body=body, headers=headers)
        status = c.getresponse().status
        c.close()
    except OSError:
        status = 0
    return status, (time.monotonic() - started) * 1000


def leader(cluster):
    """The node every node's /readyz names as leader."""
    host, port = split(cluster[0]["api"])
    c = http.client.HTTPConnection(host, port, timeout=5)
    c.request("GET", "/readyz")
    lid = json.loads(c.getresponse().read()).get("leader")
    return next(m for m in cluster if m["id"] == lid)


def probe(cluster_json, seconds, token, out):
    cluster = nodes(cluster_json)
    deadline = time.monotonic() + float(seconds)
    base = {n["id"]: rss_kib(n["pid"]) for n in cluster}
    peak = dict(base)
    health = {n["id"]: [] for n in cluster}
    writes = []
    lead = leader(cluster)

    def write_loop():
        i = 0
        while time.monotonic() < deadline:
            i += 1
            flag = {"key": f"flood-probe-{i}", "kind": "boolean", "enabled": True,
                    "variations": [{"value": True}, {"value": False}],
                    "off_variation": 1, "fallthrough": {"variation": 0}}
            writes.append(timed(lead["api"], "POST", "/v1/flags", token, json.dumps(flag)))
            time.sleep(0.25)

    t = threading.Thread(target=write_loop)
    t.start()
    while time.monotonic() < deadline:
        for n in cluster:
            health[n["id"]].append(timed(n["api"], "GET", "/healthz"))
            peak[n["id"]] = max(peak[n["id"]], rss_kib(n["pid"]))
        time.sleep(0.05)
    t.join()
    with open(out, "w") as f:
        json.dump({"leader": lead["id"], "base_rss_kib": base, "peak_rss_kib": peak,
                   "health": health, "writes": writes}, f)


if __name__ == "__main__":
    if sys.argv[1] == "attack":
        attack(*sys.argv[2:6])
    else:
        probe(*sys.argv[2:6])
