"""Property: whatever the tenant holds, ``import --update`` leaves a file that plans no change for the
tenant, keeps every comment line in order, and changes no line of a channel that did not drift.

Values are drawn from the contract's own character classes (quotes, ``#``, ``:``, ``&``, ``*``,
leading and trailing spaces, accented letters, YAML 1.1 words such as ``on``), so the emitter's
quoting is exercised against the loader that reads the file back. Runs the library
(``import_channels``) on the golden commented file; the CLI path is ``test_import.py``.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config import load_channels_file
from reconciler.importer import import_channels
from reconciler.model import RemoteChannel
from reconciler.planning import make_plan

BEFORE = (Path(__file__).parent / "golden" / "import" / "commented" / "before.yaml").read_text(encoding="utf-8")
BEFORE = BEFORE.replace("@PRODUCTION_URL@", "http://127.0.0.1:1")
FILE = "channels.yaml"
MANAGED = ["WhatsApp bridge", "SMS gateway", "Instagram DM"]

WARNING_CHARS = "abcXYZ019-_:;>+()/!?,.#@$*&'À ȕ"
warnings = st.one_of(
    st.sampled_from(["", "on", "no", "yes", "null", "1e3", "- x", "#x", "a: b", "x #y", " x ", "'q'"]),
    st.text(WARNING_CHARS, min_size=1, max_size=12),
)
endpoints = st.one_of(
    st.sampled_from(
        [
            "",
            "https://bridge.acme.com/omnidesk/api/message",
            "https://bridge.acme.com",
            "https://x.example.com/a?b=c&d=e",
            "0o17",
            "true",
        ]
    ),
    st.text("abc019.:/-?&=", min_size=1, max_size=20),
)
fields = st.fixed_dictionaries(
    {
        "icon": st.sampled_from(["chat", "sms", "instagram", "on", "off", "y", "No", "a-b_c"]),
        "custom_channel_endpoint": endpoints,
        "custom_channel_warning_en": warnings,
        "custom_channel_warning_nl": warnings,
        "include_signature": st.booleans(),
        "custom_channel_available_in_quick_ticket": st.booleans(),
    }
)
tenant_states = st.tuples(
    st.lists(fields, min_size=3, max_size=3),
    st.dictionaries(st.sampled_from(["New one", "Old-fax", "x"]), fields, max_size=2),
)


def remote(states: tuple[list[dict], dict[str, dict]]) -> list[RemoteChannel]:
    managed, extra = states
    named = list(zip(MANAGED, managed, strict=True)) + sorted(extra.items())
    return [
        RemoteChannel.from_api({"id": i, "type": "custom", "name": name, **f})
        for i, (name, f) in enumerate(named, start=10)
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenant_states)
def test_update_converges_and_keeps_the_rest_of_the_file(states: tuple[list[dict], dict[str, dict]]) -> None:
    current = remote(states)
    view = load_channels_file(FILE, tenant="production", text=BEFORE, environ={})
    result = import_channels(
        BEFORE,
        file=FILE,
        view=view,
        current=current,
        update=True,
        reload=lambda text: load_channels_file(FILE, tenant="production", text=text, environ={}),
    )
    after = load_channels_file(FILE, tenant="production", text=result.text, environ={})
    plan = make_plan(after.channels, current)
    assert plan.is_empty, [(c.name, getattr(c, "fields", ())) for c in plan.changes]

    comments = [line for line in BEFORE.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in result.text.splitlines() if line.lstrip().startswith("#")] == comments

    drifted = {u.name for u in result.updated}
    old, new = BEFORE.splitlines(), result.text.splitlines()
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        for line in old[i1:i2] if tag in ("replace", "delete") else []:
            owner = _channel_of(old, old.index(line))
            assert owner in drifted, (line, owner, drifted)


def _channel_of(lines: list[str], index: int) -> str | None:
    """The name of the channel entry that line ``index`` belongs to."""
    for line in reversed(lines[: index + 1]):
        stripped = line.strip()
        if stripped.startswith("- {name: "):
            return stripped[len("- {name: ") :].split(",")[0]
        if stripped.startswith("- name: "):
            return stripped[len("- name: ") :].strip("'\"")
    return None
