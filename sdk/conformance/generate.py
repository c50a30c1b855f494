#!/usr/bin/env python3
"""Writes sdk/conformance/cases/*.json from their sources.

The evaluator's fixtures (flags/tests/fixtures/*.json), the bucketing golden
vectors (flags/tests/t21_bucket_golden.rs, copied below) and
sources/extra.json give, for each case, what the *evaluator* serves. This
script adds what an SDK must answer on top of it, by the rules of README.md:

- the typed getter's result (`expected`): a served value of the getter's
  type is returned as is; no value, or one of another type, gives the
  caller's default (`WRONG_TYPE` for the latter);
- the OpenFeature provider's result (`openfeature`), by the table in
  ARCHITECTURE.md ("OpenFeature").

Run it after changing a source, and commit its output:

    python3 sdk/conformance/generate.py          # rewrite cases/
    python3 sdk/conformance/generate.py --check  # fail if cases/ is stale
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = REPO / "flags" / "tests" / "fixtures"
FIXTURE_FILES = ["operators", "reasons", "rollouts", "segments"]

# (salt or seed, bucketed value, bucket): t21_bucket_golden.rs's vectors.
GOLDEN = [
    ("new-checkout", "user-1", 74_687, "the README example"),
    ("new-checkout", "user-2", 4_918, "second key"),
    ("s1", "user-1", 35_951, "a flag salt"),
    ("exp-1", "user-1", 80_157, "a rollout seed"),
    ("new-checkout", 42, 74_870, "a number attribute (an int)"),
    ("new-checkout", 42.0, 74_870, "a number attribute (a whole float)"),
    ("flag", "ünïcode", 75_330, "UTF-8 bytes"),
    ("x" * 300, "user-1", 88_383, "a salt past XXH3's short-input path"),
]

DEFAULTS = {"boolean": False, "string": "default", "number": -1, "json": {"default": True}}
OF_TYPES = {"boolean": "boolean", "string": "string", "number": "float", "json": "object"}
OF_ERRORS = {
    "FLAG_NOT_FOUND": "FLAG_NOT_FOUND",
    "MALFORMED_FLAG": "PARSE_ERROR",
    "WRONG_TYPE": "TYPE_MISMATCH",
    "CLIENT_NOT_READY": "PROVIDER_NOT_READY",
    "GENERAL": "GENERAL",
    "INVALID_CONTEXT": "INVALID_CONTEXT",
}


def of_type_ok(kind, value):
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def is_static(flag):
    serve = flag.get("fallthrough", {})
    return (
        not flag.get("targets")
        and not flag.get("rules")
        and not flag.get("prerequisites")
        and "variation" in serve
    )


def buckets_by_key(serve):
    return "rollout" in serve and serve["rollout"].get("bucket_by", "key") == "key"


def needs_targeting_key(flag, segments):
    """vexil_flags::openfeature::needs_targeting_key, in Python."""
    if not flag.get("enabled", False):
        return False
    segs = {s["key"]: s for s in segments}

    def segment_reads_key(s):
        clauses = [c for r in s.get("rules", []) for c in r["clauses"]]
        return bool(s.get("included") or s.get("excluded")) or any(
            c["attribute"] == "key" for c in clauses
        )

    def reads_key(c):
        if c["attribute"] == "key":
            return True
        return c["operator"] == "segment_match" and any(
            isinstance(v, str) and v in segs and segment_reads_key(segs[v]) for v in c["values"]
        )

    rules = any(
        buckets_by_key(r["serve"]) or any(reads_key(c) for c in r["clauses"])
        for r in flag.get("rules", [])
    )
    return bool(flag.get("targets")) or buckets_by_key(flag["fallthrough"]) or rules


def variation_name(flag, index):
    if index is None:
        return None
    name = flag["variations"][index].get("name")
    return name if name is not None else str(index)


def error(kind, default):
    return {
        "value": default,
        "variation": None,
        "variation_name": None,
        "reason": {"kind": "ERROR", "error_kind": kind},
        "in_rollout": False,
    }


def sdk_case(src, state):
    """One output case from an evaluator-level source case."""
    flags = {f["key"]: f for f in state["flags"]} if state else {}
    flag = flags.get(src["flag"])
    kind = src.get("kind") or (flag["kind"] if flag else "string")
    default = src.get("default", DEFAULTS[kind])
    ev = src["expected"]
    of_type = src.get("openfeature_type", OF_TYPES[kind])
    of_err = None
    if ev == "INVALID_CONTEXT":
        out = error("INVALID_CONTEXT", default)
        of_err = "INVALID_CONTEXT"
    elif state is None:
        out = error("CLIENT_NOT_READY", default)
        of_err = "PROVIDER_NOT_READY"
    elif ev["value"] is None:
        out = error(ev["reason"].get("error_kind", "MALFORMED_FLAG"), default)
    elif not of_type_ok(kind, ev["value"]):
        out = error("WRONG_TYPE", default)
    else:
        out = {
            "value": ev["value"],
            "variation": ev["variation"],
            "variation_name": variation_name(flag, ev["variation"]),
            "reason": ev["reason"],
            "in_rollout": ev.get("in_rollout", False),
        }
    # The provider: context, readiness, existence, the flag's kind, the
    # targeting key, then the reason (sdk/src/openfeature.rs's order).
    of_kind = {"boolean": "boolean", "string": "string", "float": "number",
               "integer": "number", "object": "json"}[of_type]
    if of_err is None and flag is None:
        of_err = "FLAG_NOT_FOUND"
    if of_err is None and flag["kind"] != of_kind:
        of_err = "TYPE_MISMATCH"
    if of_err is None and needs_targeting_key(flag, state["segments"]) and not src["context"].get("key"):
        of_err = "TARGETING_KEY_MISSING"
    reason = ev["reason"] if isinstance(ev, dict) else None
    if of_err is None and reason["kind"] == "ERROR":
        of_err = OF_ERRORS[reason["error_kind"]]
    if of_err is None and of_type == "object" and not isinstance(ev["value"], dict):
        of_err = "TYPE_MISMATCH"
    if of_err is None and of_type == "integer" and float(ev["value"]) != int(ev["value"]):
        of_err = "TYPE_MISMATCH"
    if of_err is not None:
        of = {"type": of_type, "value": default, "error_code": of_err}
    else:
        k, roll = reason["kind"], ev.get("in_rollout", False)
        of_reason = {
            "OFF": "DISABLED",
            "TARGET_MATCH": "TARGETING_MATCH",
            "RULE_MATCH": "SPLIT" if roll else "TARGETING_MATCH",
            "PREREQUISITE_FAILED": "DEFAULT",
            "FALLTHROUGH": "SPLIT" if roll else ("STATIC" if is_static(flag) else "DEFAULT"),
        }[k]
        of = {
            "type": of_type,
            "value": ev["value"],
            "variant": variation_name(flag, ev["variation"]),
            "reason": of_reason,
        }
    case = {
        "name": src["name"],
        "flag": src["flag"],
        "kind": kind,
        "default": default,
        "context": src["context"],
        "expected": out,
        "openfeature": of,
    }
    if "note" in src:
        case["note"] = src["note"]
    return case


def suite(name, state, cases):
    full = None if state is None else {
        "id": 1, "flags": state["flags"], "segments": state.get("segments", [])}
    return {"name": name, "state": full, "cases": [sdk_case(c, full) for c in cases]}


def from_fixtures(file):
    out = []
    for c in json.loads((FIXTURES / f"{file}.json").read_text()):
        state = {"flags": c["flags"], "segments": c.get("segments", [])}
        src = {k: c[k] for k in ("name", "flag", "context", "expected")}
        out.append(suite(f"{file}.json: {c['name']}", state, [src]))
    return {
        "description": f"Every case of flags/tests/fixtures/{file}.json, one suite each "
        "(generated by sdk/conformance/generate.py: do not edit).",
        "suites": out,
    }


def golden():
    """One flag per vector, whose rollout isolates the one bucket expected:
    slices [0, b) → variation 0, [b, b+1) → 1, the rest → 2, so variation 1
    is served exactly when the context lands in bucket b."""
    suites = []
    for salt, value, b, why in GOLDEN:
        rollout = {"variations": [{"variation": 0, "weight": b},
                                  {"variation": 1, "weight": 1},
                                  {"variation": 2, "weight": 100_000 - b - 1}]}
        flag = {"key": "golden", "kind": "string", "enabled": True, "off_variation": 0,
                "variations": [{"value": "below", "name": "below"},
                               {"value": "exact", "name": "exact"},
                               {"value": "above", "name": "above"}],
                "fallthrough": {"rollout": rollout}}
        if isinstance(value, str):
            ctx = {"key": value}
        else:
            ctx = {"key": "anyone", "n": value}
            rollout["bucket_by"] = "n"
        if salt in ("new-checkout", "flag"):
            flag["key"] = salt
        elif salt == "s1":
            flag["salt"] = salt
        else:
            rollout["seed"] = salt
        src = {"name": f"bucket {b}: {why}", "flag": flag["key"], "context": ctx,
               "expected": {"value": "exact", "variation": 1,
                            "reason": {"kind": "FALLTHROUGH"}, "in_rollout": True}}
        suites.append(suite(f"golden bucket {b}: {why}", {"flags": [flag]}, [src]))
    return {
        "description": "The bucketing golden vectors of flags/tests/t21_bucket_golden.rs, "
        "each pinned to its exact bucket (generated by sdk/conformance/generate.py: do not edit).",
        "suites": suites,
    }


def extra():
    src = json.loads((HERE / "sources" / "extra.json").read_text())
    return {
        "description": src["description"] + " (generated from sources/extra.json by "
        "sdk/conformance/generate.py: edit the source).",
        "suites": [suite(s["name"], s["state"], s["cases"]) for s in src["suites"]],
    }


def outputs():
    files = {f"fixtures-{f}.json": from_fixtures(f) for f in FIXTURE_FILES}
    files["golden-buckets.json"] = golden()
    files["sdk.json"] = extra()
    return {name: json.dumps(doc, indent=1, ensure_ascii=False) + "\n" for name, doc in files.items()}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, text in outputs().items():
        path = HERE / "cases" / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        sys.exit(f"stale: {', '.join(stale)}; run python3 sdk/conformance/generate.py")


if __name__ == "__main__":
    main()
