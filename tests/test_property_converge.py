"""Property: for any current and desired sets, apply then plan is empty, and nothing outside the plan
was written. Runs the real client, planner and apply against the emulator's ``handle()`` in-process
(the same code the HTTP server runs) so hypothesis can afford hundreds of tenants."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler.apply import OK, apply_plan
from reconciler.client import OmnideskClient
from reconciler.emulator import Emulator, EmulatorTransport
from reconciler.errors import ConflictError
from reconciler.model import DesiredChannel, SecretRef, normalize_fields
from reconciler.planning import make_plan
from reconciler.secrets import Secrets

NAMES = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta"]
field_values = st.fixed_dictionaries(
    {},
    optional={
        "icon": st.sampled_from(["chat", "note", "sms"]),
        "custom_channel_endpoint": st.sampled_from(["", "https://a.example.com/x", "https://b.example.com/y?q=1"]),
        "custom_channel_warning_en": st.sampled_from(["", "Hello", "Slow replies"]),
        "custom_channel_warning_nl": st.sampled_from(["", "Dag À", "Trage antwoorden"]),
        "include_signature": st.booleans(),
        "custom_channel_available_in_quick_ticket": st.booleans(),
    },
)
current_sets = st.dictionaries(st.sampled_from(NAMES), field_values, max_size=len(NAMES))
desired_sets = st.dictionaries(
    st.sampled_from(NAMES),
    st.tuples(
        field_values, st.one_of(st.none(), st.sampled_from(["s1", "s2"])), st.lists(st.sampled_from(NAMES), max_size=2)
    ),
    max_size=len(NAMES),
)


def writes(emu: Emulator) -> int:
    return sum(emu.stats[k] for k in ("create", "update", "delete"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(current=current_sets, desired=desired_sets, prune=st.booleans(), rotate=st.booleans())
def test_apply_then_plan_is_empty_and_nothing_else_is_written(current, desired, prune, rotate):
    emu = Emulator()
    emu.seed_channels([{"name": name, **fields} for name, fields in current.items()])
    client = OmnideskClient("http://emulator", "demo", transport=EmulatorTransport(emu))
    wanted = []
    for name, (fields, secret, previous) in desired.items():
        # previous names must not be claimed by another channel of the file (the loader enforces it)
        olds = tuple(p for p in previous if p not in desired and p != name)
        wanted.append(
            DesiredChannel(
                fields=normalize_fields({"name": name, **fields}),
                secret=SecretRef(secret, "S") if secret else None,
                previous_names=olds,
            )
        )
    claimed = [p for w in wanted for p in w.previous_names]
    assume(len(claimed) == len(set(claimed)))  # the loader refuses a name claimed twice
    before = {c["id"]: c for c in emu.channels()}
    try:
        plan = make_plan(wanted, client.list_channels(), prune=prune, rotate_secrets=rotate)
    except ConflictError as exc:  # only the documented refusals of ambiguous renames
        assert "rename onto an existing name" in str(exc) or "several of its previous_names" in str(exc)
        assert writes(emu) == 0
        return
    secrets = Secrets.from_channels(wanted)
    outcomes = apply_plan(plan, client, secrets, parallelism=3).outcomes
    assert all(o.status == OK for o in outcomes), [o.message for o in outcomes]

    after = {c["id"]: c for c in emu.channels()}
    touched = {c.channel_id for c in plan.changes if c.channel_id is not None}
    for channel_id, channel in before.items():
        if channel_id not in touched:
            assert after.get(channel_id) == channel, "a channel outside the plan was written"
    created = set(after) - set(before)
    assert len(created) == len(plan.creates)
    for channel in after.values():
        if channel["id"] in created and secrets.get(channel["name"]):
            assert channel["custom_channel_secret"] == secrets[channel["name"]]

    again = make_plan(wanted, client.list_channels(), prune=prune)
    assert again.is_empty, again.changes
    client.close()
