"""The shared conformance suite (sdk/conformance) through the Python client
and VexilProvider, offline: each suite's state is a cache file, no node is
reachable. The Rust and Node.js SDKs run the same cases."""

import pytest
from openfeature.evaluation_context import EvaluationContext

from conftest import CONFORMANCE, load_json, offline_client, same
from vexil.openfeature import VexilProvider

FILES = sorted((CONFORMANCE / "cases").glob("*.json"))
SUITES = [(f.name, s) for f in FILES for s in load_json(f)["suites"]]

GETTERS = {
    "boolean": "bool_detail",
    "string": "string_detail",
    "number": "number_detail",
    "json": "json_detail",
}
RESOLVERS = {
    "boolean": "resolve_boolean_details",
    "string": "resolve_string_details",
    "float": "resolve_float_details",
    "integer": "resolve_integer_details",
    "object": "resolve_object_details",
}


def test_the_suite_is_there():
    assert len(FILES) >= 6, f"no conformance files under {CONFORMANCE}"
    assert sum(len(s["cases"]) for _, s in SUITES) > 150


def detail_as_case(d) -> dict:
    reason = {"kind": d.reason}
    if d.reason == "RULE_MATCH":
        reason.update(rule_index=d.rule_index, rule_id=d.rule_id)
    elif d.reason == "PREREQUISITE_FAILED":
        reason["prerequisite"] = d.prerequisite
    elif d.reason == "ERROR":
        reason["error_kind"] = d.error
    return {
        "value": d.value,
        "variation": d.variation,
        "variation_name": d.variation_name,
        "reason": reason,
        "in_rollout": d.in_rollout,
    }


def of_context(ctx):
    """The case's context as OpenFeature's; None when it cannot be one."""
    if ctx is None:
        return EvaluationContext()
    if not isinstance(ctx, dict):
        return None
    key = ctx.get("key")
    if "key" in ctx and not isinstance(key, str):
        return None
    return EvaluationContext(key, {k: v for k, v in ctx.items() if k != "key"})


def of_answer(r, of_type):
    if r.error_code is not None:
        return {"type": of_type, "value": r.value, "error_code": str(r.error_code.value)}
    return {"type": of_type, "value": r.value, "variant": r.variant, "reason": str(r.reason.value)}


@pytest.mark.parametrize("file,suite", SUITES, ids=[f"{f}: {s['name']}" for f, s in SUITES])
def test_suite(tmp_path, file, suite):
    client = offline_client(tmp_path, suite["state"])
    provider = VexilProvider(client)
    failures = []
    try:
        for case in suite["cases"]:
            getter = getattr(client, GETTERS[case["kind"]])
            got = detail_as_case(getter(case["flag"], case["context"], case["default"]))
            if not same(got, case["expected"]):
                failures.append(f"{case['name']}\n  expected {case['expected']}\n  got      {got}")
            # The value-only getter agrees with the detail.
            plain = getattr(client, GETTERS[case["kind"]].replace("_detail", "_value"))
            value = plain(case["flag"], case["context"], case["default"])
            if not same(value, case["expected"]["value"]):
                failures.append(f"{case['name']} (value getter): {value!r}")
            of = case["openfeature"]
            ctx = of_context(case["context"])
            if ctx is not None:
                resolve = getattr(provider, RESOLVERS[of["type"]])
                got = of_answer(resolve(case["flag"], case["default"], ctx), of["type"])
                if not same(got, of):
                    failures.append(f"{case['name']} (OpenFeature)\n  expected {of}\n  got      {got}")
    finally:
        client.close()
    assert not failures, "\n".join(failures)
