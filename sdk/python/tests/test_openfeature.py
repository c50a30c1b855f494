"""VexilProvider through openfeature-sdk's own client API, offline from a
cache file: reasons, variants, metadata, error codes, the context mapping
and provider status."""

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from conftest import offline_client
from vexil.openfeature import VexilProvider

BOOLS = [{"value": True, "name": "on"}, {"value": False, "name": "off"}]
HALF = {"rollout": {"variations": [{"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}
STATE = {
    "id": 7,
    "segments": [],
    "flags": [
        {"key": "static", "kind": "boolean", "variations": BOOLS, "enabled": True,
         "off_variation": 1, "fallthrough": {"variation": 0}, "version": 4},
        {"key": "disabled", "kind": "boolean", "variations": BOOLS, "enabled": False,
         "off_variation": 1, "fallthrough": {"variation": 0}},
        {"key": "plan", "kind": "string", "enabled": True, "off_variation": 0,
         "variations": [{"value": "free"}, {"value": "gold", "name": "gold"}],
         "targets": [{"variation": 1, "values": ["vip"]}],
         "rules": [{"id": "beta", "serve": {"variation": 1},
                    "clauses": [{"attribute": "groups", "operator": "in", "values": ["beta"]}]}],
         "fallthrough": {"variation": 0}},
        {"key": "limit", "kind": "number", "enabled": True, "off_variation": 0,
         "variations": [{"value": 3}, {"value": 2.5}],
         "rules": [{"id": "nz", "serve": {"variation": 1},
                    "clauses": [{"attribute": "country", "operator": "in", "values": ["NZ"]}]}],
         "fallthrough": {"variation": 0}},
        {"key": "layout", "kind": "json", "enabled": True, "off_variation": 0,
         "variations": [{"value": {"cols": 2}}, {"value": {"cols": 3}}], "fallthrough": HALF},
    ],
}


@pytest.fixture
def of(tmp_path):
    client = offline_client(tmp_path, STATE)
    domain = f"vexil-test-{id(client)}"
    # openfeature-sdk 0.10 initialises in the background unless asked to
    # wait; 0.8 (the last for Python 3.9) always waits.
    set_and_wait = getattr(api, "set_provider_and_wait", api.set_provider)
    set_and_wait(VexilProvider(client, init_timeout=5), domain)
    yield api.get_client(domain)
    api.clear_providers()
    client.close()


def user(key, **attrs):
    return EvaluationContext(key, attrs)


def test_reasons_variants_and_metadata(of):
    d = of.get_boolean_details("static", False, user("u1"))
    assert (d.value, d.reason, d.variant) == (True, Reason.STATIC, "on")
    assert d.flag_metadata == {"version": 4, "vexilReason": "FALLTHROUGH"}
    d = of.get_boolean_details("disabled", True, user("u1"))
    assert (d.value, d.reason, d.variant) == (False, Reason.DISABLED, "off")
    d = of.get_string_details("plan", "x", user("vip"))
    assert (d.value, d.reason, d.variant) == ("gold", Reason.TARGETING_MATCH, "gold")
    d = of.get_string_details("plan", "x", user("u2", groups=["beta"]))
    assert (d.value, d.reason) == ("gold", Reason.TARGETING_MATCH)
    assert d.flag_metadata["ruleId"] == "beta"
    d = of.get_string_details("plan", "x", user("u2"))
    assert (d.value, d.reason, d.variant) == ("free", Reason.DEFAULT, "0")
    d = of.get_float_details("limit", 0.0, user("u1", country="NZ"))
    assert (d.value, d.reason) == (2.5, Reason.TARGETING_MATCH)
    d = of.get_integer_details("limit", 0, user("u1"))
    assert (d.value, d.reason) == (3, Reason.DEFAULT)
    d = of.get_object_details("layout", {}, user("u1"))
    assert d.reason == Reason.SPLIT and d.value in ({"cols": 2}, {"cols": 3})


@pytest.mark.parametrize(
    "call,code",
    [
        (lambda of: of.get_boolean_details("nope", True, user("u")), ErrorCode.FLAG_NOT_FOUND),
        (lambda of: of.get_boolean_details("plan", True, user("u")), ErrorCode.TYPE_MISMATCH),
        (lambda of: of.get_integer_details("limit", 9, user("u", country="NZ")), ErrorCode.TYPE_MISMATCH),
        (lambda of: of.get_string_details("plan", "d", EvaluationContext(None, {})), ErrorCode.TARGETING_KEY_MISSING),
        (lambda of: of.get_boolean_details("static", True, EvaluationContext("u", {"key": "u"})), ErrorCode.INVALID_CONTEXT),
        (lambda of: of.get_boolean_details("static", True, user("u", user={"plan": "x"})), ErrorCode.INVALID_CONTEXT),
        (lambda of: of.get_boolean_details("static", True, user("u", groups=["a", 1])), ErrorCode.INVALID_CONTEXT),
        (lambda of: of.get_boolean_details("static", True, EvaluationContext(7, {})), ErrorCode.INVALID_CONTEXT),
    ],
)
def test_errors_serve_the_default_with_a_code(of, call, code):
    d = call(of)
    assert d.error_code == code
    assert d.reason == Reason.ERROR
    assert d.value in (True, 9, "d")


def test_a_flag_that_does_not_read_the_key_needs_none(of):
    d = of.get_boolean_details("static", False, EvaluationContext(None, {"country": "NZ"}))
    assert (d.value, d.reason, d.error_code) == (True, Reason.STATIC, None)


def test_not_ready_without_state(tmp_path):
    client = offline_client(tmp_path, None)
    try:
        provider = VexilProvider(client, init_timeout=0.2)
        provider.initialize(EvaluationContext())
        r = provider.resolve_boolean_details("static", True, EvaluationContext("u"))
        assert (r.value, r.error_code) == (True, ErrorCode.PROVIDER_NOT_READY)
        with pytest.raises(TypeError):
            VexilProvider("not a client")
    finally:
        client.close()
