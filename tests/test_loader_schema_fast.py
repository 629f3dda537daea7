"""The compiled validator (jsonschema-rs) that passes valid files never disagrees with jsonschema.

The loader trusts ``is_valid_fast`` for a "yes" and asks jsonschema for the errors otherwise, so
a document the compiled validator accepts and jsonschema refuses would lose its error messages.
Property: on any channels document, the two give the same answer.
"""

from __future__ import annotations

import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import FIELDS
from reconciler.schema import is_valid_fast, validator

EDGE = "aZ09 ._-:/?&=#%~+\n\t${}()!,;>@*'\"ÀȕȖ¿€é\u0000\u2028"
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(alphabet=EDGE, max_size=12),
    st.sampled_from(["${env:X}", "${var:h}", "https://${var:h}/x", "${x}", "${env:}", "$${", "", "1"]),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet=EDGE, max_size=6), inner, max_size=3),
    max_leaves=6,
)
channel = st.dictionaries(
    st.sampled_from([*FIELDS, "previous_names", "tenants", "other"]),
    json_value,
    max_size=6,
).map(lambda c: {"name": "A", **c})
tenant = st.fixed_dictionaries(
    {"url": st.sampled_from(["https://a.omnidesk.com", "x", "http://h:1/p"])},
    optional={
        "api_key_env": json_scalar,
        "vars": st.dictionaries(st.text(alphabet=EDGE, max_size=5), json_value, max_size=2),
    },
)
document = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, "1", 2, True]), "channels": st.lists(channel, max_size=3)},
    optional={"prune": json_scalar, "tenants": st.dictionaries(st.text(alphabet=EDGE, max_size=5), tenant, max_size=2)},
)


@settings(max_examples=300, deadline=None)
@given(document)
def test_the_compiled_validator_agrees_with_jsonschema_on_any_document(data: dict[str, Any]) -> None:
    fast = is_valid_fast(data)
    assert fast is not bool(list(validator().iter_errors(data)))


def test_a_value_json_has_no_type_for_is_left_to_jsonschema() -> None:
    data = {"version": 1, "channels": [{"name": datetime.date(2001, 1, 1)}]}
    assert is_valid_fast(data) is None
    assert list(validator().iter_errors(data))
