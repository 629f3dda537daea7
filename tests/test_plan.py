"""The planner as pure data: matching, safety checks, staleness, secrets (no I/O here)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.checks import check_fresh, check_safety, check_secrets
from reconciler.errors import (
    ConfigError,
    ConflictError,
    PlanFileError,
    SecretMissingError,
    StalePlanError,
    UnsafePlanError,
)
from reconciler.model import Baseline, DesiredChannel, Recorded, RemoteChannel, SecretRef, normalize_fields
from reconciler.plan import CREATE, DELETE, SECRET_KEEP, SECRET_SEND, UPDATE, Plan
from reconciler.planning import make_plan
from reconciler.problems import Problem


def remote(id: int, name: str, type: str = "custom", **fields) -> RemoteChannel:
    return RemoteChannel(id=id, type=type, fields=normalize_fields({"name": name, **fields}))


def want(name: str, secret: SecretRef | None = None, previous: tuple[str, ...] = (), **fields) -> DesiredChannel:
    return DesiredChannel(fields=normalize_fields({"name": name, **fields}), secret=secret, previous_names=previous)


def test_create_update_and_unmanaged_without_prune():
    plan = make_plan(
        [want("A", icon="note"), want("B")],
        [remote(1, "Email", "email"), remote(10, "A"), remote(11, "C")],
    )
    assert [(c.action, c.name) for c in plan.changes] == [(UPDATE, "A"), (CREATE, "B")]
    assert [(f.field, f.before, f.after) for f in plan.changes[0].fields] == [("icon", "chat", "note")]
    assert plan.unmanaged == ("C",)
    assert plan.summary() == "Plan: 1 to create, 1 to update, 0 to delete"


def test_builtin_channels_are_never_touched_even_with_prune():
    plan = make_plan([], [remote(1, "Email", "email"), remote(2, "Chat", "chat")], prune=True)
    assert plan.is_empty


def test_order_is_deletes_updates_creates_then_name():
    plan = make_plan(
        [want("z", icon="x"), want("b"), want("a")],
        [remote(5, "z"), remote(6, "old2"), remote(7, "old1")],
        prune=True,
    )
    assert [(c.action, c.name) for c in plan.changes] == [
        (DELETE, "old1"),
        (DELETE, "old2"),
        (UPDATE, "z"),
        (CREATE, "a"),
        (CREATE, "b"),
    ]


def test_rename_is_an_update_of_the_name():
    plan = make_plan([want("New", previous=("Old",))], [remote(3, "Old")])
    (change,) = plan.changes
    assert (change.action, change.channel_id, change.renamed_from) == (UPDATE, 3, "Old")
    (call,) = change.calls()
    assert (call.method, call.path, dict(call.fields), call.sends_secret) == (
        "PUT",
        "/api/v2/channel/3",
        {"name": "New"},
        False,
    )


def test_rename_onto_an_existing_name_is_refused():
    with pytest.raises(ConflictError, match="a rename onto an existing name"):
        make_plan([want("New", previous=("Old",))], [remote(3, "Old"), remote(4, "New")])


def test_duplicate_names_on_the_tenant_are_refused_with_their_ids():
    with pytest.raises(ConflictError, match=r"2 custom channels named 'A' \(ids 3, 4\)"):
        make_plan([want("A")], [remote(3, "A"), remote(4, "A")])


def test_a_duplicated_name_is_its_only_conflict_its_previous_names_wait():
    """Which of the two is the channel is the one question while its name is taken twice: what the
    previous names say (a rename, or several of them existing) is answered once that is fixed."""
    tenant = [remote(3, "A"), remote(4, "A"), remote(5, "B"), remote(6, "C")]
    with pytest.raises(ConflictError) as refused:
        make_plan([want("A", previous=("B", "C"))], tenant)
    assert refused.value.conflicts == [
        "the tenant has 2 custom channels named 'A' (ids 3, 4); "
        "rename or delete all but one in Omnidesk, then plan again"
    ]


def test_name_of_a_builtin_channel_is_refused():
    with pytest.raises(ConflictError, match="built-in channel"):
        make_plan([want("Email")], [remote(1, "Email", "email")])


def test_secret_is_sent_on_create_and_kept_on_update_unless_rotating():
    secret = SecretRef("s3cret", "SMS_SECRET")
    create = make_plan([want("A", secret)], []).changes[0]
    assert create.secret.action == SECRET_SEND and create.calls()[0].sends_secret
    update = make_plan([want("A", secret, icon="x")], [remote(1, "A")]).changes[0]
    assert update.secret.action == SECRET_KEEP and not update.calls()[0].sends_secret
    assert make_plan([want("A", secret)], [remote(1, "A")]).is_empty
    rotate = make_plan([want("A", secret)], [remote(1, "A")], rotate_secrets=True).changes[0]
    assert rotate.action == UPDATE and rotate.secret.action == SECRET_SEND and rotate.fields == ()


def test_unset_secret_is_an_error_only_where_it_would_be_sent():
    unset = SecretRef(None, "SMS_SECRET")
    assert make_plan([want("A", unset, icon="x")], [remote(1, "A")]).missing_secrets == {}
    plan = make_plan([want("A", unset), want("B", unset)], [])
    assert plan.missing_secrets == {"SMS_SECRET": ("A", "B")}
    with pytest.raises(SecretMissingError, match=r"\$\{env:SMS_SECRET\} needed by: A, B"):
        check_secrets(plan)


def test_plan_data_round_trips_and_holds_no_secret():
    plan = make_plan([want("A", SecretRef("hunter2-value", "X"))], [remote(9, "B")], prune=True, target="t")
    again = Plan.from_data(plan.to_data())
    assert again == plan and again.digest() == plan.digest()
    assert "hunter2-value" not in str(plan.to_data())


@pytest.mark.parametrize(
    ("custom", "deletes", "allow", "ok"),
    [(10, 3, None, True), (10, 4, None, False), (10, 4, 4, True), (10, 4, 3, False), (9, 9, None, True)],
)
def test_delete_threshold(custom, deletes, allow, ok):
    current = [remote(i, f"c{i}") for i in range(custom)]
    plan = make_plan([want(f"c{i}") for i in range(deletes, custom)], current, prune=True)
    assert len(plan.deletes) == deletes
    if ok:
        check_safety(plan, allow)
    else:
        with pytest.raises(UnsafePlanError, match=f"allow_deletes= {deletes}"):
            check_safety(plan, allow)


def test_fresh_check_names_the_channel_and_field_and_ignores_untouched_ones():
    plan = make_plan([want("A", icon="note")], [remote(1, "A"), remote(2, "B")])
    check_fresh(plan, [remote(1, "A"), remote(2, "B", icon="other"), remote(3, "C")])
    changed = r"'A' \(id 1\) changed since the plan: custom_channel_endpoint was '', now 'x'"
    with pytest.raises(StalePlanError, match=changed):
        check_fresh(plan, [remote(1, "A", custom_channel_endpoint="x")])
    with pytest.raises(StalePlanError, match="no longer exists"):
        check_fresh(plan, [])
    create = make_plan([want("N")], [])
    with pytest.raises(StalePlanError, match="now exists"):
        check_fresh(create, [remote(5, "N")])


def versioned(name: str, version: int | None, line: int | None = None) -> DesiredChannel:
    """A channel with a secret, built as a library caller does: no position for its secret_version."""
    return DesiredChannel(
        fields=normalize_fields({"name": name}),
        secret=SecretRef("s3cret", "SECRET"),
        line=line,
        secret_version=version,
    )


def test_secret_versions_of_a_file_where_only_some_channels_have_one():
    """A channel without secret_version is neither a baseline nor compared, even with a record
    holding a version for it (it had one before): only the versioned channel is recorded."""
    record = Recorded({11: 2}, "record.json")
    plan = make_plan([versioned("A", 1), versioned("B", None)], [remote(10, "A"), remote(11, "B")], versions=record)
    assert plan.baselines == (Baseline("A", 10, 1),)
    assert [(c.name, c.secret.action) for c in plan.changes if c.secret] == []


def test_a_lowered_secret_version_from_a_library_caller_names_the_channel_and_its_line():
    """A channel not read from a file has no position for secret_version: the refusal names the
    channel (its line when the caller gave one) and says what to write."""
    record = Recorded({10: 3}, "record.json")
    with pytest.raises(ConfigError) as refused:
        make_plan([versioned("A", 2, line=7)], [remote(10, "A")], target="https://t.example", versions=record)
    assert refused.value.problems == [
        Problem(
            "",
            7,
            None,
            "'A'",
            "2 is below 3, the secret_version last applied to this channel (id 10) on https://t.example, "
            "as record.json records: a version only goes up. Write 4 to send the secret again, or 3 to keep "
            "it; nothing was changed",
        )
    ]


def test_rotate_secrets_keeps_the_recorded_version_it_raises_from():
    """--rotate-secrets sends every secret; a versioned channel's change still says which recorded
    version it goes from (the plan's JSON ``previous_secret_version``)."""
    plan = make_plan([versioned("A", 2)], [remote(10, "A")], rotate_secrets=True, versions=Recorded({10: 1}, "r.json"))
    (change,) = plan.changes
    assert (change.secret.action, change.secret.version, change.secret.previous_version) == (SECRET_SEND, 2, 1)


def test_an_empty_secret_not_from_the_environment_is_missing_under_a_question_mark():
    plan = make_plan([want("A", secret=SecretRef("", None))], [])
    assert dict(plan.missing_secrets) == {"?": ("A",)}


def test_a_plan_made_without_a_target_names_none():
    """A library caller's plan of channels alone (no tenant URL): nothing invented in its place."""
    assert make_plan([want("A")], []).target == ""


def test_a_saved_plan_reads_back_equal_with_its_snapshot_rotation_and_baselines():
    """What ``plan --out`` writes and ``apply PLAN`` reads: the snapshot it was planned against, a
    rotation's recorded version and the baselines to record come back as they were."""
    made = make_plan(
        [versioned("A", 2)], [remote(10, "A")], target="https://t.example", versions=Recorded({10: 1}, "r")
    )
    plan = replace(made, snapshot=("2026-12-01", "omnidesk-snapshots/t.yaml"), baselines=(Baseline("B", 11, 3),))
    data = plan.to_data()
    assert Plan.from_data(data) == plan
    data.pop("findings")  # a plan saved before policies had none
    assert Plan.from_data(data).findings == ()
    assert plan.digest() != made.digest()


def test_a_saved_plan_with_an_unknown_change_names_the_known_ones():
    data = make_plan([want("A")], []).to_data()
    data["changes"][0]["action"] = "rename"
    with pytest.raises(PlanFileError, match=r"unknown change action 'rename' \(known: create, update, delete\)"):
        Plan.from_data(data)
