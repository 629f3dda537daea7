"""The engine as a library: typed changes and their calls, apply's refusals, saved plans, the Python API.

End to end through the CLI (or the workflow) against the emulator over real HTTP.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from clihelp import run_cli
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler.apply import NOT_STARTED, OK, apply_plan
from reconciler.checks import check_fresh
from reconciler.client import OmnideskClient
from reconciler.emulator import Emulator, serve_in_thread
from reconciler.errors import (
    ConflictError,
    PlanFileError,
    ReconcilerError,
    SecretMissingError,
    StalePlanError,
    StateFileError,
    TargetError,
)
from reconciler.model import DesiredChannel, RemoteChannel, SecretRef, normalize_fields
from reconciler.plan import Create, Delete, Plan, Update
from reconciler.planfile import load_plan, save_plan
from reconciler.planning import make_plan
from reconciler.secrets import Secrets
from reconciler.target import resolve_target

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-never-shown"

WARNED = """\
version: 1
channels:
  - name: SMS gateway
    icon: sms
    custom_channel_endpoint: https://sms.example.com/omnidesk
    custom_channel_secret: ${env:SMS_SECRET}
    custom_channel_warning_en: Replies can take a few minutes
    custom_channel_available_in_quick_ticket: true
  - name: Plain
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def env_for(running, **extra: str) -> dict[str, str]:
    return {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": running.key, "SMS_SECRET": SECRET, **extra}


def custom(emu: Emulator) -> dict[str, dict]:
    return {c["name"]: c for c in emu.channels() if c["type"] == "custom"}


def writes(emu: Emulator) -> int:
    return sum(emu.stats[k] for k in ("create", "update", "delete"))


# -- a create is POST, then PUT of the PUT-only fields ------------------------------------------


def test_a_create_with_put_only_fields_is_post_then_put_and_the_next_plan_is_empty(tmp_path, emulator):
    path = write(tmp_path, WARNED)
    env = env_for(emulator)
    data = json.loads(run_cli(["plan", path, "--format", "json"], env).stdout)
    sms = next(c for c in data["changes"] if c["name"] == "SMS gateway")
    assert sms["calls"] == [
        {
            "method": "POST",
            "path": "/api/v2/channel",
            "fields": {
                "name": "SMS gateway",
                "icon": "sms",
                "custom_channel_endpoint": "https://sms.example.com/omnidesk",
                "custom_channel_secret": "(sensitive)",
            },
        },
        {
            "method": "PUT",
            "path": "/api/v2/channel/new",
            "fields": {
                "custom_channel_warning_en": "Replies can take a few minutes",
                "custom_channel_available_in_quick_ticket": True,
            },
        },
    ]
    plain = next(c for c in data["changes"] if c["name"] == "Plain")
    assert [c["method"] for c in plain["calls"]] == ["POST"]
    text = run_cli(["plan", path], env).stdout
    assert "+ create 'SMS gateway' (POST, then PUT of 2 fields)\n" in text
    assert "+ create 'Plain'\n" in text
    markdown = run_cli(["plan", path, "--format", "markdown"], env).stdout
    assert "new channel (POST, then PUT of 2 fields)" in markdown

    emulator.emu.reset_stats()
    applied = run_cli(["apply", path, "--yes"], env)
    assert applied.exit_code == 0, applied.output
    assert (emulator.emu.stats["create"], emulator.emu.stats["update"]) == (2, 1)
    made = custom(emulator.emu)["SMS gateway"]
    assert made["custom_channel_warning_en"] == "Replies can take a few minutes"
    assert made["custom_channel_available_in_quick_ticket"] is True and made["custom_channel_secret"] == SECRET
    # apply reports the id of every channel it created
    for name, channel in custom(emulator.emu).items():
        assert f"create {name!r}: ok: created, id {channel['id']}" in applied.stderr
    again = run_cli(["plan", path, "--detailed-exitcode"], env)
    assert again.exit_code == 0, again.output


class PutRefused(Emulator):
    """An emulator whose server refuses every PUT: a create's POST lands, its PUT does not."""

    def handle(self, method, path, query, headers, body):  # type: ignore[override]
        if method == "PUT":
            payload = json.dumps(
                {"status": "error", "message": "temporarily refused", "field": "custom_channel_warning_en"}
            ).encode()
            return 400, {"content-type": "application/json"}, payload
        return super().handle(method, path, query, headers, body)


def test_a_create_whose_put_fails_is_reported_incomplete_and_a_rerun_converges(tmp_path):
    emu = PutRefused()
    path = write(tmp_path, WARNED)
    with serve_in_thread(emu) as server:
        env = {"OMNIDESK_URL": server.url, "OMNIDESK_API_KEY": "demo", "SMS_SECRET": SECRET}
        first = run_cli(["apply", path, "--yes"], env)
        assert first.exit_code == 1, first.output
        sms = custom(emu)["SMS gateway"]
        assert (
            f"SMS gateway: created (id {sms['id']}) but incomplete: custom_channel_warning_en, "
            "custom_channel_available_in_quick_ticket not set"
        ) in first.stderr
        assert "Apply: 1 created, 0 updated, 0 deleted (of 2 planned); 1 created incomplete." in first.stderr
        assert sms["custom_channel_warning_en"] == "" and sms["custom_channel_secret"] == SECRET
        plain = custom(emu)["Plain"]
        assert f"create 'Plain': ok: created, id {plain['id']}" in first.stderr
        # the next plan shows exactly what is missing, as an update
        plan = run_cli(["plan", path], env)
        assert "~ update 'SMS gateway'" in plan.stdout and "custom_channel_warning_en" in plan.stdout
    healthy = Emulator()
    healthy.seed_channels([{k: v for k, v in c.items() if k not in ("id", "type")} for c in custom(emu).values()])
    emu.close()
    with serve_in_thread(healthy) as server:
        env = {"OMNIDESK_URL": server.url, "OMNIDESK_API_KEY": "demo", "SMS_SECRET": SECRET}
        assert run_cli(["apply", path, "--yes"], env).exit_code == 0
        assert run_cli(["plan", path, "--detailed-exitcode"], env).exit_code == 0
    healthy.close()


def test_an_incomplete_create_carries_its_id_and_missing_fields():
    emu = PutRefused()
    plan = make_plan(
        [DesiredChannel(fields=normalize_fields({"name": "W", "custom_channel_warning_nl": "Let op"}))], []
    )
    with serve_in_thread(emu) as server, OmnideskClient(server.url, "demo") as client:
        report = apply_plan(plan, client, Secrets())
    (outcome,) = report.outcomes
    made = custom(emu)["W"]
    assert (outcome.status, outcome.channel_id, outcome.missing_fields) == (
        "incomplete",
        made["id"],
        ("custom_channel_warning_nl",),
    )
    assert report.created == {"W": made["id"]} and report.failures == (outcome,)
    assert "W: created (id" in str(report.error()) and "run apply again to set them" in outcome.message
    emu.close()


# -- apply takes a plan and a typed secrets source ----------------------------------------------


def want(name: str, secret: str | None = None, env_var: str = "S", **fields) -> DesiredChannel:
    ref = SecretRef(secret, env_var) if secret is not None or env_var else None
    return DesiredChannel(fields=normalize_fields({"name": name, **fields}), secret=ref)


def remote(id: int, name: str, **fields) -> RemoteChannel:
    return RemoteChannel(id=id, type="custom", fields=normalize_fields({"name": name, **fields}))


def test_apply_refuses_a_secret_it_must_send_but_does_not_have(emulator):
    plan = make_plan([want("A", "value-a", "A_SECRET"), want("B", "value-b", "B_SECRET")], [])
    with OmnideskClient(emulator.url, "demo") as client:
        with pytest.raises(SecretMissingError) as caught:
            apply_plan(plan, client, Secrets({"A": "value-a"}))
        assert caught.value.missing == {"B_SECRET": ["B"]}
        with pytest.raises(SecretMissingError):
            apply_plan(plan, client, Secrets({"A": "value-a", "B": ""}))  # empty is no value
    assert writes(emulator.emu) == 0


def test_a_stop_before_apply_starts_nothing_and_a_stop_midway_starts_no_more(emulator):
    plan = make_plan([want(f"c{i}", env_var="") for i in range(12)], [])
    stop = threading.Event()
    stop.set()
    with OmnideskClient(emulator.url, "demo") as client:
        report = apply_plan(plan, client, Secrets(), stop=stop)
        assert {o.status for o in report.outcomes} == {NOT_STARTED} and writes(emulator.emu) == 0
        later = threading.Event()
        report = apply_plan(plan, client, Secrets(), parallelism=1, on_outcome=lambda outcome: later.set(), stop=later)
    done = [o for o in report.outcomes if o.status == OK]
    assert len(done) == 1 and emulator.emu.stats["create"] == 1 and report.interrupted


def test_an_outcome_not_started_names_its_change_and_why(make_emulator):
    """The CLI only counts them; a program reads each one: which change, and why it did not run."""
    tenant = make_emulator(api_keys={"demo": {"CHANNEL_READ", "CHANNEL_CUD"}, "read-only": {"CHANNEL_READ"}})
    plan = make_plan([want(f"c{i}", env_var="") for i in range(3)], [])
    stop = threading.Event()
    stop.set()
    with OmnideskClient(tenant.url, "demo") as client:
        report = apply_plan(plan, client, Secrets(), stop=stop)
    assert [(o.change, o.status, o.detail) for o in report.outcomes] == [
        (change, NOT_STARTED, "interrupted before it started") for change in plan.changes
    ]
    with OmnideskClient(tenant.url, "read-only") as client:
        report = apply_plan(plan, client, Secrets(), parallelism=1)
    assert report.outcomes[0].denied == "CHANNEL_CUD"  # the first create, refused with 403
    assert [(o.change, o.status, o.detail) for o in report.outcomes[1:]] == [
        (change, NOT_STARTED, "not started: the API key lacks CHANNEL_CUD") for change in plan.changes[1:]
    ]
    assert custom(tenant.emu) == {} and tenant.emu.stats["create"] == 1  # the refused one; no other was sent


def test_secret_is_not_sent_on_an_update_without_rotate_even_when_its_variable_changed(tmp_path, emulator):
    path = write(tmp_path, WARNED)
    assert run_cli(["apply", path, "--yes"], env_for(emulator)).exit_code == 0
    write(tmp_path, WARNED.replace("icon: sms", "icon: phone"))
    changed = run_cli(["apply", path, "--yes"], env_for(emulator, SMS_SECRET="a-different-value"))
    assert changed.exit_code == 0, changed.output
    sms = custom(emulator.emu)["SMS gateway"]
    assert sms["icon"] == "phone" and sms["custom_channel_secret"] == SECRET


# -- every problem is reported, not only the first -------------------------------------------------


def test_every_conflict_stale_channel_and_missing_secret_is_reported():
    with pytest.raises(ConflictError) as caught:
        make_plan(
            [want("Email", env_var=""), want("A", env_var="")],
            [RemoteChannel(1, "email", normalize_fields({"name": "Email"})), remote(2, "A"), remote(3, "A")],
        )
    assert len(caught.value.conflicts) == 2 and "built-in" in str(caught.value) and "(ids 2, 3)" in str(caught.value)

    renames = [
        DesiredChannel(fields=normalize_fields({"name": "N1"}), previous_names=("O1", "O2")),  # two olds exist
        DesiredChannel(fields=normalize_fields({"name": "D"})),  # duplicated on the tenant
        DesiredChannel(fields=normalize_fields({"name": "N3"}), previous_names=("O3",)),  # rename onto a taken name
        DesiredChannel(fields=normalize_fields({"name": "Email2"})),
    ]
    with pytest.raises(ConflictError) as caught:
        make_plan(
            renames,
            [
                remote(1, "O1"),
                remote(2, "O2"),
                remote(3, "D"),
                remote(4, "D"),
                remote(5, "O3"),
                remote(6, "N3"),
                RemoteChannel(7, "email", normalize_fields({"name": "Email2"})),
            ],
        )
    assert len(caught.value.conflicts) == 4, caught.value.conflicts

    plan = make_plan(
        [want("A", env_var="", icon="x"), want("B", env_var="", icon="y")], [remote(1, "A"), remote(2, "B")]
    )
    with pytest.raises(StalePlanError) as stale:
        check_fresh(plan, [remote(1, "A", icon="z")])
    assert (
        len(stale.value.stale) == 2
        and "'A' (id 1)" in str(stale.value)
        and "channel 2 no longer exists" in str(stale.value)
    )

    plan = make_plan([want("A", None, "A_SECRET"), want("B", None, "B_SECRET")], [])
    with pytest.raises(SecretMissingError) as missing:
        Secrets().require(plan)
    assert set(missing.value.missing) == {"A_SECRET", "B_SECRET"}


# -- saved plans -----------------------------------------------------------------------------------


def test_a_saved_plan_is_validated_against_its_schema_and_digests_are_salted_scrypt(tmp_path):
    plan = make_plan(
        [want("A", "low-entropy", "A_SECRET", custom_channel_warning_en="Hi")], [remote(1, "B")], prune=True
    )
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    save_plan(plan, {"label": "t", "url": "https://x.omnidesk.com"}, first, Secrets({"A": "low-entropy"}))
    save_plan(plan, {"label": "t", "url": "https://x.omnidesk.com"}, second, Secrets({"A": "low-entropy"}))
    one, two = json.loads(first.read_text()), json.loads(second.read_text())
    assert one["secrets"]["kdf"] == "scrypt" and one["secrets"]["n"] >= 2**14
    assert one["secrets"]["salt"] != two["secrets"]["salt"]
    assert one["secrets"]["digests"]["A"] != two["secrets"]["digests"]["A"]
    assert "low-entropy" not in first.read_text() and "sha256:" not in json.dumps(one["plan"])
    saved = load_plan(first)
    assert (
        saved.plan == plan and isinstance(saved.plan.changes[0], Delete) and isinstance(saved.plan.changes[1], Create)
    )
    assert saved.secret_digests.matches("A", "low-entropy") and not saved.secret_digests.matches("A", "guess")

    # a plan whose data breaks the schema is refused by name, even with a digest that matches
    from reconciler.planfile import _document_digest

    one["plan"]["changes"][0]["action"] = "explode"
    one["digest"] = _document_digest(one["plan"], one["connection"], one["secrets"])
    first.write_text(json.dumps(one))
    with pytest.raises(PlanFileError, match=r"does not match plan.schema.json at changes/0/action"):
        load_plan(first)


fields_strategy = st.fixed_dictionaries(
    {},
    optional={
        "icon": st.sampled_from(["chat", "sms", "note"]),
        "custom_channel_endpoint": st.sampled_from(["", "https://a.example.com/x", "https://b.example.com/y?z=1"]),
        "custom_channel_warning_en": st.sampled_from(["", "Careful", "Let op!"]),
        "include_signature": st.booleans(),
        "custom_channel_available_in_quick_ticket": st.booleans(),
    },
)
names = st.sampled_from(["A", "B", "C", "D", "E"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    current=st.dictionaries(names, fields_strategy, max_size=4),
    desired=st.dictionaries(names, fields_strategy, max_size=4),
    secret=st.sampled_from(["set", "unset", "none"]),
    renamed=st.dictionaries(names, names, max_size=2),
    prune=st.booleans(),
    rotate=st.booleans(),
)
def test_a_plan_round_trips_through_a_saved_plan_file(tmp_path, current, desired, secret, renamed, prune, rotate):
    """Every part of a plan survives saving: renames, unset secrets, unmanaged channels, every change type."""
    wanted = [
        DesiredChannel(
            fields=normalize_fields({"name": n, **f}),
            secret=None if secret == "none" else SecretRef("v" if secret == "set" else None, "S_" + n),
            previous_names=tuple(o for o in [renamed.get(n)] if o and o != n and o not in desired),
        )
        for n, f in desired.items()
    ]
    claimed = [o for w in wanted for o in w.previous_names]
    assume(len(claimed) == len(set(claimed)))
    have = [remote(i + 10, n, **f) for i, (n, f) in enumerate(current.items())]
    try:
        plan = make_plan(wanted, have, prune=prune, rotate_secrets=rotate, target="t")
    except ConflictError:
        assume(False)
    assert Plan.from_data(plan.to_data()) == plan
    out = tmp_path / "plan.json"
    save_plan(
        plan, {"label": "t", "url": "https://t.omnidesk.com", "api_key_env": "K"}, out, Secrets.from_channels(wanted)
    )
    saved = load_plan(out)
    assert saved.plan == plan and saved.plan.digest() == plan.digest()
    assert [type(c) for c in saved.plan.changes] == [type(c) for c in plan.changes]
    assert all(type(c) in (Create, Update, Delete) for c in saved.plan.changes)


def test_the_digest_is_sha256_of_canonical_json_and_plans_compare_by_value():
    from reconciler.plan import FrozenMap, digest

    assert digest({"b": [1, "é"], "a": True}) == (
        "sha256:" + __import__("hashlib").sha256('{"a":true,"b":[1,"é"]}'.encode()).hexdigest()
    )
    assert FrozenMap({"a": 1}) == {"a": 1} and FrozenMap({"a": 1}) != {"a": 2} and FrozenMap() != []
    assert hash(FrozenMap({"a": 1, "b": 2})) == hash(FrozenMap({"b": 2, "a": 1}))


def test_calls_are_described_with_every_field_they_send():
    rotate = make_plan([want("A", "v", "A_SECRET", icon="x")], [remote(1, "A")], rotate_secrets=True).changes[0]
    assert rotate.describe_calls() == "PUT of 2 fields"  # icon and the secret
    (delete,) = make_plan([], [remote(2, "B")], prune=True).changes
    assert delete.describe_calls() == "DELETE" and delete.calls()[0].path == "/api/v2/channel/2"
    create = make_plan([want("C", None, "", custom_channel_warning_nl="Let op")], []).changes[0]
    assert create.describe_calls() == "POST, then PUT of 1 field"


def test_every_stale_create_and_a_renamed_channel_by_its_old_name():
    plan = make_plan(
        [
            want("N1", env_var=""),
            want("N2", env_var=""),
            DesiredChannel(fields=normalize_fields({"name": "New"}), previous_names=("Old",)),
        ],
        [remote(1, "Old")],
    )
    with pytest.raises(StalePlanError) as stale:
        check_fresh(plan, [remote(1, "Old", icon="moved"), remote(5, "N1"), remote(6, "N2")])
    assert len(stale.value.stale) == 3 and "'Old' (id 1) changed since the plan" in str(stale.value)
    assert "'N2': a channel with this name now exists (id 6)" in str(stale.value)


def test_the_apply_summary_counts_each_kind(emulator):
    emulator.emu.seed_channels([{"name": "Keep"}, {"name": "Gone"}])
    plan = make_plan(
        [want("Keep", env_var="", icon="x"), want("New", env_var="")],
        [RemoteChannel(c["id"], "custom", normalize_fields(c)) for c in custom(emulator.emu).values()],
        prune=True,
    )
    with OmnideskClient(emulator.url, "demo") as client:
        report = apply_plan(plan, client, Secrets())
    assert report.summary() == "Apply: 1 created, 1 updated, 1 deleted (of 3 planned)."
    assert report.created == {"New": custom(emulator.emu)["New"]["id"]} and report.error() is None


def test_every_outcome_carries_the_id_of_its_channel_a_failed_one_too(emulator):
    """``Outcome.channel_id`` is public: a program tells which channel failed by it, not by a name
    that the change may have renamed."""
    emulator.emu.seed_channels([{"name": n} for n in ("Kept", "Gone", "Moved", "Lost")])
    ids = {name: channel["id"] for name, channel in custom(emulator.emu).items()}
    plan = make_plan(
        [want("Kept", env_var="", icon="x"), want("Moved", env_var="", icon="y")],
        [RemoteChannel(c["id"], "custom", normalize_fields(c)) for c in custom(emulator.emu).values()],
        prune=True,
    )
    for name in ("Moved", "Lost"):  # removed by someone else after the plan was made
        emulator.emu.handle("DELETE", f"/api/v2/channel/{ids[name]}", {}, {"apiKey": emulator.key}, b"")
    with OmnideskClient(emulator.url, "demo") as client:
        report = apply_plan(plan, client, Secrets())
    seen = {(o.change.action, o.change.name): (o.status, o.channel_id) for o in report.outcomes}
    assert seen == {
        ("update", "Kept"): ("ok", ids["Kept"]),
        ("delete", "Gone"): ("ok", ids["Gone"]),
        ("update", "Moved"): ("failed", ids["Moved"]),
        ("delete", "Lost"): ("failed", ids["Lost"]),
    }
    assert report.denied == ""  # a str, as typed: no write was refused with 403


# -- the target, the errors ------------------------------------------------------------------------


def test_the_target_never_shows_its_key():
    target = resolve_target(
        url="https://acme.omnidesk.com", tenant=None, tenants={}, environ={"OMNIDESK_API_KEY": "k3y-never-shown"}
    )
    assert "k3y-never-shown" not in repr(target) and "k3y-never-shown" not in str(target.connection())
    with pytest.raises(TargetError) as caught:
        resolve_target(url="https://acme.omnidesk.com", tenant=None, tenants={}, environ={})
    assert caught.value.variable == "OMNIDESK_API_KEY"


def test_every_error_the_package_raises_on_purpose_is_a_reconciler_error(tmp_path):
    for kind in (StateFileError, PlanFileError, TargetError, ConflictError, StalePlanError, SecretMissingError):
        assert issubclass(kind, ReconcilerError), kind
    state = tmp_path / "state.json"
    state.write_text("{not json")
    result = run_cli(["plan", str(ROOT / "examples" / "quickstart.yaml"), "--emulator-state", str(state)])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ") and "Traceback" not in result.output


# -- the Python API as the docs show it (docs/how-to/python.md) --------------------------------------


def test_the_docs_python_example_runs_as_written(emulator, tmp_path):
    page = (ROOT / "docs" / "how-to" / "python.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Plan: 2 to create, 0 to update, 0 to delete" in done.stdout
    assert sorted(custom(emulator.emu)) == ["Instagram DM", "SMS gateway"]
    sms = custom(emulator.emu)["SMS gateway"]
    assert sms["custom_channel_warning_nl"] == "Antwoorden per sms kunnen enkele minuten duren"
    assert (
        run_cli(
            ["plan", str(ROOT / "examples" / "quickstart.yaml"), "--detailed-exitcode"],
            {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key},
        ).exit_code
        == 0
    )
