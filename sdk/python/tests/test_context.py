"""Context conversion: the shared table (sdk/conformance/context_conversion.json)
and what only Python values can express (NaN, huge ints, datetimes, tuples,
sets, bytes), at construction (InvalidContextError) and at evaluation
(INVALID_CONTEXT with the default, never an exception)."""

import math
from datetime import datetime, timedelta, timezone

import pytest

import vexil
from conftest import CONFORMANCE, load_json, offline_client, same

TABLE = load_json(CONFORMANCE / "context_conversion.json")["cases"]

STATE = {
    "id": 1,
    "segments": [],
    "flags": [
        {
            "key": "late",
            "kind": "boolean",
            "enabled": True,
            "off_variation": 1,
            "variations": [{"value": True}, {"value": False}],
            "rules": [
                {
                    "id": "after-2025",
                    "serve": {"variation": 0},
                    "clauses": [
                        {"attribute": "at", "operator": "after", "values": ["2025-01-01T00:00:00Z"]}
                    ],
                }
            ],
            "fallthrough": {"variation": 1},
        }
    ],
}


@pytest.mark.parametrize("case", TABLE, ids=[c["name"] for c in TABLE])
def test_the_shared_table(case):
    expected = case["expected"]
    if expected == "INVALID_CONTEXT":
        with pytest.raises(vexil.InvalidContextError):
            vexil.Context.from_dict(case["context"])
        return
    got = vexil.Context.from_dict(case["context"]).to_dict()
    want = {"key": expected["key"], **expected["attributes"]}
    assert same(got, want), (got, want)
    # Every number is a float once converted, ints included.
    for name, v in got.items():
        if isinstance(expected["attributes"].get(name), float):
            assert isinstance(v, float), name


@pytest.mark.parametrize(
    "value,why",
    [
        (math.nan, "NaN"),
        (math.inf, "infinity"),
        (-math.inf, "-infinity"),
        (10**400, "beyond a float's range"),
        (datetime(2025, 1, 1), "naive datetime"),
        ({"plan"}, "set"),
        (b"bytes", "bytes"),
        (object(), "other object"),
        (["a", 1], "list with an int"),
        (("a", None), "tuple with None"),
        ({"a": 1}, "nested dict"),
    ],
)
def test_python_values_a_context_cannot_hold(tmp_path, value, why):
    with pytest.raises(vexil.InvalidContextError, match='attribute "x"'):
        vexil.Context("u", {"x": value})
    client = offline_client(tmp_path, STATE)
    with client:
        d = client.bool_detail("late", {"key": "u", "x": value}, True)
        assert (d.value, d.reason, d.error) == (True, "ERROR", "INVALID_CONTEXT"), why
        assert 'attribute "x"' in d.error_message
        assert client.bool_value("late", {"key": "u", "x": value}, True) is True


def test_python_values_that_map():
    ctx = vexil.Context.from_dict(
        {"key": "u", "t": ("a", "b"), "b": True, "i": 2**63 + 1, "f": 1.5, "none": None}
    )
    assert ctx.to_dict() == {"key": "u", "t": ["a", "b"], "b": True, "i": float(2**63 + 1), "f": 1.5}
    assert isinstance(ctx.to_dict()["b"], bool), "a bool is never a number"


def test_an_aware_datetime_is_epoch_milliseconds(tmp_path):
    at = datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=12)))
    assert vexil.Context("u", at=at).to_dict()["at"] == at.timestamp() * 1000
    with offline_client(tmp_path, STATE) as client:
        d = client.bool_detail("late", {"key": "u", "at": at}, False)
        assert (d.value, d.reason, d.rule_id) == (True, "RULE_MATCH", "after-2025")
        early = datetime(2024, 12, 31, 23, 0, tzinfo=timezone.utc)
        assert client.bool_detail("late", {"key": "u", "at": early}, False).reason == "FALLTHROUGH"


def test_contexts_that_are_not_dicts(tmp_path):
    with offline_client(tmp_path, STATE) as client:
        for bad in ["u1", 42, ["u1"], {1: "x"}, {"key": 7}]:
            d = client.bool_detail("late", bad, True)
            assert (d.value, d.error) == (True, "INVALID_CONTEXT"), bad
        with pytest.raises(vexil.InvalidContextError):
            vexil.Context.from_dict("u1")
        with pytest.raises(TypeError):
            vexil.Context(key=7)
        with pytest.raises(vexil.InvalidContextError, match="targeting key"):
            vexil.Context("u", {"key": "other"})


def test_a_context_object_is_the_same_as_its_dict(tmp_path):
    as_dict = {"key": "u", "at": "2025-03-01T00:00:00Z", "plan": "pro"}
    ctx = vexil.Context.from_dict(as_dict)
    assert ctx == vexil.Context("u", at="2025-03-01T00:00:00Z", plan="pro")
    assert ctx.key == "u"
    with offline_client(tmp_path, STATE) as client:
        a = client.bool_detail("late", as_dict, False)
        b = client.bool_detail("late", ctx, False)
        assert (a.value, a.reason, a.rule_id) == (b.value, b.reason, b.rule_id) == (True, "RULE_MATCH", "after-2025")
