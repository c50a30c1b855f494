"""Per-evaluation cost of ``vexil.Client.bool_value`` against
``UnleashClient.is_enabled`` (PyPI ``UnleashClient``, which evaluates with
Unleash's Rust engine yggdrasil), on the two flags of
``scripts/bench.d/eval.sh`` (flags/benches/peer/unleash.rs, written again
here for each SDK), plus cold start and memory with 10,000 flags.

Run by ``scripts/bench.d/sdk-python.sh``; prints markdown table rows on
stdout, progress on stderr. Both clients start offline from their own
bootstrap (Vexil: a cache file; Unleash: a bootstrapped FileCache), so no
network is involved. Before timing, both SDKs must enable the expected
share of every country's users for both flags (the hashes differ, so the
users enabled differ; the shares must not).
"""

import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter

COUNTRIES = ["NZ", "AU", "US", "DE", "JP", "BR", "IN", "GB"]
PLANS = ["free", "pro", "team"]
USERS = int(os.environ.get("BENCH_USERS", "100000"))
CALLS = int(os.environ.get("BENCH_CALLS", "300000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
LISTED = [f"user-{i * 997}" for i in range(20)]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def attributes(i):
    return COUNTRIES[i % len(COUNTRIES)], PLANS[(i // 8) % len(PLANS)]


def clause(attribute, values):
    return {"attribute": attribute, "operator": "in", "values": values}


def rollout(percent):
    on = percent * 1000
    return {"rollout": {"variations": [{"variation": 0, "weight": on}, {"variation": 1, "weight": 100_000 - on}]}}


def vexil_flag(key, rules, fallthrough):
    return {"key": key, "kind": "boolean", "enabled": True, "off_variation": 1,
            "variations": [{"value": True}, {"value": False}],
            "rules": [{"id": f"r{i}", "clauses": c, "serve": s} for i, (c, s) in enumerate(rules)],
            "fallthrough": fallthrough}


def vexil_state(extra=0):
    anz = clause("country", ["NZ", "AU"])
    flags = [
        vexil_flag("rollout_in", [([anz], rollout(50))], {"variation": 1}),
        vexil_flag("multi", [
            ([clause("key", LISTED)], {"variation": 0}),
            ([clause("plan", ["pro", "team"]), clause("country", ["DE", "GB"])], {"variation": 0}),
            ([anz], rollout(50)),
        ], rollout(10)),
    ]
    flags += [vexil_flag(f"flag-{i}", [([anz], rollout(50))], {"variation": 1}) for i in range(extra)]
    return {"id": 1, "flags": flags, "segments": []}


def constraint(name, values):
    return {"contextName": name, "operator": "IN", "values": values}


def flexible(group, percent, constraints):
    return {"name": "flexibleRollout", "constraints": constraints,
            "parameters": {"rollout": str(percent), "stickiness": "userId", "groupId": group}}


def unleash_features(extra=0):
    anz = constraint("country", ["NZ", "AU"])
    features = [
        {"name": "rollout_in", "enabled": True, "strategies": [flexible("rollout_in", 50, [anz])]},
        {"name": "multi", "enabled": True, "strategies": [
            {"name": "userWithId", "parameters": {"userIds": ",".join(LISTED)}},
            {"name": "default", "constraints": [constraint("plan", ["pro", "team"]),
                                                constraint("country", ["DE", "GB"])]},
            flexible("multi", 50, [anz]),
            flexible("multi", 10, []),
        ]},
    ]
    features += [{"name": f"flag-{i}", "enabled": True, "strategies": [flexible(f"flag-{i}", 50, [anz])]}
                 for i in range(extra)]
    return {"version": 2, "features": features}


def dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def vexil_client(extra=0, workdir=None):
    import vexil

    path = os.path.join(workdir or tempfile.mkdtemp(), f"vexil-{extra}.json")
    if not os.path.exists(path):
        vexil.write_cache_file(path, vexil_state(extra))
    return vexil.Client([dead_url()], "bench-token", cache_file=path, metrics_flush_interval=3600)


def unleash_client(extra=0, workdir=None):
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    workdir = workdir or tempfile.mkdtemp()
    path = os.path.join(workdir, f"unleash-{extra}.json")
    if not os.path.exists(path):
        with open(path, "w") as f:
            json.dump(unleash_features(extra), f)
    cache = FileCache(f"bench-{extra}-{os.getpid()}", directory=tempfile.mkdtemp(dir=workdir))
    cache.bootstrap_from_file(path)
    client = UnleashClient(url="http://127.0.0.1:1", app_name="bench", cache=cache,
                           disable_metrics=True, disable_registration=True)
    client.initialize_client(fetch_toggles=False)
    return client


def check_outcomes(vexil_on, unleash_on):
    """Both SDKs enable the expected share of each country's users."""
    expected = {
        "rollout_in": lambda c, p: 50 if c in ("NZ", "AU") else 0,
        "multi": lambda c, p: 100 if (c in ("DE", "GB") and p != "free") else (50 if c in ("NZ", "AU") else 10),
    }
    for name, on in (("vexil", vexil_on), ("unleash", unleash_on)):
        for flag, want in expected.items():
            per = Counter()
            total = Counter()
            for i in range(USERS):
                c, p = attributes(i)
                total[(c, p)] += 1
                per[(c, p)] += on(flag, i)
            for (c, p), n in total.items():
                share = 100 * per[(c, p)] / n
                if abs(share - want(c, p)) > 5 + (1 if p != "free" else 0):
                    # listed users are a handful; allow them in the 10% groups
                    if not (flag == "multi" and abs(share - want(c, p)) <= 6):
                        raise SystemExit(f"{name} {flag}: {c}/{p} enabled {share:.1f}%, expected {want(c, p)}%")
    log("outcomes: both SDKs enable the expected share of every country/plan")


def per_call_ns(fn, flag, contexts):
    n = len(contexts)
    best = []
    for _ in range(ROUNDS):
        gc.disable()
        t0 = time.perf_counter_ns()
        for j in range(CALLS):
            fn(flag, contexts[j % n])
        t1 = time.perf_counter_ns()
        gc.enable()
        best.append((t1 - t0) / CALLS)
    return statistics.median(best)


def loop_ns(contexts):
    """The cost of the timing loop with a trivial call in place of evaluation."""
    def nothing(flag, ctx):
        return False
    return per_call_ns(nothing, "x", contexts)


def rss_kib():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def cold(kind, extra, workdir):
    """In a child process: start a client holding `extra` + 2 flags from its
    bootstrap, time it until an evaluation answers from it, and the RSS growth."""
    code = (
        "import sys, time, json; sys.path.insert(0, %r); import eval_vs_unleash as b; import gc;"
        "gc.collect(); r0 = b.rss_kib(); t0 = time.perf_counter();"
        "c = b.%s_client(%d, %r);"
        "ok = %s;"
        "t1 = time.perf_counter(); gc.collect(); r1 = b.rss_kib();"
        "print(json.dumps({'ms': (t1 - t0) * 1000, 'kib': r1 - r0, 'ok': ok}))"
    ) % (
        os.path.dirname(os.path.abspath(__file__)), kind, extra, workdir,
        "c.bool_detail('flag-%d', {'key': 'user-1', 'country': 'NZ'}, False).error is None" % (extra - 1)
        if kind == "vexil" else
        "any(c.is_enabled('flag-%d', {'userId': 'user-%%d' %% i, 'properties': {'country': 'NZ'}}) for i in range(40))"
        % (extra - 1),
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    import vexil

    log(f"users {USERS}, {CALLS} calls per round, median of {ROUNDS} rounds")
    v = vexil_client()
    u = unleash_client()
    vexil_ctx = []
    vexil_obj = []
    unleash_ctx = []
    for i in range(USERS):
        c, p = attributes(i)
        vexil_ctx.append({"key": f"user-{i}", "country": c, "plan": p})
        vexil_obj.append(vexil.Context(f"user-{i}", country=c, plan=p))
        unleash_ctx.append({"userId": f"user-{i}", "properties": {"country": c, "plan": p}})
    check_outcomes(lambda f, i: v.bool_value(f, vexil_ctx[i], False),
                   lambda f, i: u.is_enabled(f, unleash_ctx[i]))
    base = loop_ns(vexil_ctx)
    rows = []
    for flag in ("rollout_in", "multi"):
        ours = per_call_ns(v.bool_value, flag, vexil_ctx)
        ours_obj = per_call_ns(v.bool_value, flag, vexil_obj)
        theirs = per_call_ns(u.is_enabled, flag, unleash_ctx)
        log(f"{flag}: vexil dict {ours:.0f} ns, vexil Context {ours_obj:.0f} ns, unleash {theirs:.0f} ns")
        rows.append(f"| sdk-python | {flag}: ns per call, context as a dict | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f}× |")
        rows.append(f"| sdk-python | {flag}: ns per call, prebuilt vexil.Context | {ours_obj:.0f} | {theirs:.0f} | {ours_obj / theirs:.2f}× |")
    rows.append(f"| sdk-python | the timing loop alone (ns per iteration) | {base:.0f} | {base:.0f} | – |")
    v.close()
    u.destroy()
    workdir = tempfile.mkdtemp()
    extra = 10_000
    # Warm the files (the cache file and Unleash's bootstrap are written
    # outside the timing) and the page cache, then measure in fresh processes.
    vexil_client(extra, workdir).close()
    unleash_client(extra, workdir).destroy()
    vc = [cold("vexil", extra, workdir) for _ in range(3)]
    uc = [cold("unleash", extra, workdir) for _ in range(3)]
    assert all(r["ok"] for r in vc + uc), (vc, uc)
    vms = statistics.median(r["ms"] for r in vc)
    ums = statistics.median(r["ms"] for r in uc)
    vkib = statistics.median(r["kib"] for r in vc)
    ukib = statistics.median(r["kib"] for r in uc)
    rows.append(f"| sdk-python | cold start, 10,002 flags from the bootstrap (ms, median of 3) | {vms:.0f} | {ums:.0f} | {vms / ums:.2f}× |")
    rows.append(f"| sdk-python | RSS growth of that start (MiB) | {vkib / 1024:.1f} | {ukib / 1024:.1f} | {vkib / ukib:.2f}× |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
