"""Vexil's OFREP endpoints under the real Python OpenFeature SDK and its OFREP
provider (PyPI `openfeature-sdk`, `openfeature-provider-ofrep`).

Run by scripts/test.d/30-openfeature.sh against a running node seeded with
flags.json; reads VEXIL_URL and VEXIL_SDK_TOKEN. Exits non-zero on any failure.
"""

import os
import sys
import time

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

URL = os.environ["VEXIL_URL"]
TOKEN = os.environ["VEXIL_SDK_TOKEN"]

passed, failures = 0, []


def check(name, got, want):
    """Records one assertion: `got` must equal `want`."""
    global passed
    if got == want:
        passed += 1
    else:
        failures.append(f"{name}: got {got!r}, want {want!r}")


def user(key, **attrs):
    return EvaluationContext(targeting_key=key, attributes=attrs)


def main():
    started = time.monotonic()
    # Bearer for the main client; a second provider proves X-API-Key works too.
    api.set_provider(
        OFREPProvider(URL, headers_factory=lambda: {"Authorization": f"Bearer {TOKEN}"}, timeout=5.0)
    )
    client = api.get_client()

    d = client.get_boolean_details("of-bool-static", False, user("u1"))
    check("boolean static", (d.value, d.variant, d.reason, d.error_code), (True, "on", Reason.STATIC, None))
    check("metadata carries the version", d.flag_metadata.get("version"), 1)

    d = client.get_string_details("of-string-targeted", "dflt", user("vip"))
    check("string targeted by key", (d.value, d.variant, d.reason), ("gold", "gold", Reason.TARGETING_MATCH))
    d = client.get_string_details("of-string-targeted", "dflt", user("u1", plan="pro"))
    check("string targeted by rule", (d.value, d.reason), ("silver", Reason.TARGETING_MATCH))
    check("rule id in metadata", d.flag_metadata.get("ruleId"), "pro-plan")
    d = client.get_string_details("of-string-targeted", "dflt", user("u1", plan="free"))
    check("string untargeted", (d.value, d.variant, d.reason), ("plain", "0", Reason.DEFAULT))

    d = client.get_integer_details("of-int", 0, user("u1", country="NZ"))
    check("integer targeted", (d.value, d.variant, d.reason), (7, "nz", Reason.TARGETING_MATCH))
    d = client.get_integer_details("of-int", 0, user("u1", country="AU"))
    check("integer default", (d.value, d.reason), (3, Reason.DEFAULT))
    d = client.get_float_details("of-float", 0.0, user("u1"))
    check("float static", (d.value, d.reason), (2.5, Reason.STATIC))

    d = client.get_object_details("of-object", {}, user("u1"))
    check("object rolled out", (d.reason, d.error_code), (Reason.SPLIT, None))
    check("object value", d.value in ({"cols": 2, "theme": "light"}, {"cols": 3, "theme": "dark"}), True)
    check("object variant", d.variant in ("light", "dark"), True)

    # A 50/50 rollout over 200 users serves both, near half each, always SPLIT.
    served = [client.get_boolean_details("of-bool-rollout", False, user(f"user-{i}")) for i in range(200)]
    check("rollout reasons", {d.reason for d in served}, {Reason.SPLIT})
    on = sum(1 for d in served if d.value)
    check(f"rollout split ({on}/200 on)", 60 <= on <= 140, True)
    again = client.get_boolean_details("of-bool-rollout", False, user("user-7"))
    check("rollout is sticky", again.value, served[7].value)

    d = client.get_boolean_details("of-disabled", True, user("u1"))
    check("disabled", (d.value, d.variant, d.reason, d.error_code), (False, "off", Reason.DISABLED, None))

    d = client.get_boolean_details("no-such-flag", True, user("u1"))
    check("missing flag", (d.value, d.reason, d.error_code), (True, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND))
    d = client.get_boolean_details("of-string-targeted", True, user("u1"))
    check("wrong type", (d.value, d.reason, d.error_code), (True, Reason.ERROR, ErrorCode.TYPE_MISMATCH))
    d = client.get_boolean_details("of-bool-rollout", True, EvaluationContext(attributes={"plan": "pro"}))
    check("missing targeting key", (d.value, d.error_code), (True, ErrorCode.TARGETING_KEY_MISSING))
    check("missing targeting key details", "targetingKey" in (d.error_message or ""), True)
    d = client.get_boolean_details("of-bool-static", False, EvaluationContext(attributes={"plan": "pro"}))
    check("no key needed by a static flag", (d.value, d.reason), (True, Reason.STATIC))
    d = client.get_string_details("of-string-targeted", "dflt", user("u1", user={"plan": "pro"}))
    check("nested context", (d.value, d.error_code), ("dflt", ErrorCode.INVALID_CONTEXT))

    api.set_provider(OFREPProvider(URL, headers_factory=lambda: {"X-API-Key": TOKEN}))
    d = api.get_client().get_boolean_details("of-bool-static", False, user("u1"))
    check("X-API-Key", (d.value, d.reason), (True, Reason.STATIC))
    api.set_provider(OFREPProvider(URL, headers_factory=lambda: {"X-API-Key": "wrong"}))
    d = api.get_client().get_boolean_details("of-bool-static", False, user("u1"))
    check("bad token", (d.value, d.error_code, d.error_message), (False, ErrorCode.GENERAL, "unauthorized"))

    elapsed = time.monotonic() - started
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print(f"python openfeature client: {passed} passed, {len(failures)} failed ({elapsed:.2f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
