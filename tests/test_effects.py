"""Effect records: immutability, the compiled constructor, renaming."""

import attrs
import pytest

import plait
from plait.effects import UNSET, renamed


def test_sample_records_are_frozen_attrs_records():
    dist = plait.Normal(0, 1)
    record = plait.sample(("x", 1), dist)
    assert type(record) is plait.Sample and attrs.has(plait.Sample)
    assert (record.name, record.dist, record.value) == (("x", 1), dist, UNSET)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.name = "y"
    fixed = record.with_value(0.5)
    assert fixed.value == 0.5 and record.value is UNSET and fixed.name == record.name


def test_records_built_by_attrs_and_by_the_fast_constructor_agree():
    dist = plait.Bernoulli(0.2)
    slow = plait.Sample("b", dist)
    fast = plait.sample("b", dist)
    assert attrs.asdict(slow, recurse=False) == attrs.asdict(fast, recurse=False)
    assert repr(slow) == repr(fast)


def test_every_record_kind_can_be_renamed():
    records = [
        plait.sample("a", plait.Normal(0, 1)),
        plait.observe("a", plait.Normal(0, 1), 1.0),
        plait.factor("a", -1.0),
        plait.param("a", 1.0),
        plait.deterministic("a", 2.0),
    ]
    for record in records:
        moved = renamed(record, ("s", "a"))
        assert type(moved) is type(record) and moved.name == ("s", "a") and record.name == "a"
    with pytest.raises(plait.EffectTypeError, match="not a plait effect"):
        renamed(3.0, "x")


def test_factor_arrays_and_infinite_penalties():
    assert plait.factor("f", float("-inf")).log_weight == float("-inf")
    assert list(plait.factor("f", [0.0, -1.0]).log_weight) == [0.0, -1.0]
