"""Export writes its text fast (plain values as they are, the rest through libyaml's emitter), and
the text is exactly what ``yaml.safe_dump`` (PyYAML's pure-Python emitter, which export used
before) writes for the same document.

The golden file was written by ``yaml.safe_dump``; the property holds export to ``safe_dump`` of
what it wrote for any channels the API can hold; the fallback test takes libyaml away to show
export still works, with the same text.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import export, yamlwrite
from reconciler.model import RemoteChannel, Tenant

GOLDEN = Path(__file__).parent / "golden" / "export" / "tricky.yaml"
TENANTS = {
    "production": Tenant(
        "production",
        "https://acme.omnidesk.com",
        "OMNIDESK_PRODUCTION_KEY",
        {"bridge_host": "bridge.acme.com", "brand": "Acme"},
        ignore=("Test *",),
    ),
    "staging": Tenant("staging", "https://acme-staging.omnidesk.com", None, {"bridge_host": "bridge.staging.acme.com"}),
}
TRICKY = [
    {
        "name": "Acme SMS",
        "icon": "sms",
        "custom_channel_endpoint": "https://bridge.acme.com/omnidesk/api/message",
        "include_signature": True,
    },
    {
        "name": "on",
        "icon": "no",
        "custom_channel_warning_en": "It's 1e3 # not a comment: really",
        "custom_channel_warning_nl": "Één bericht: 'ja' \"nee\"",
    },
    {
        "name": "0o17",
        "icon": "chat",
        "custom_channel_endpoint": "",
        "custom_channel_warning_en": "${literal} - x",
        "custom_channel_available_in_quick_ticket": "1",
    },
    {
        "name": "Long " + "x" * 120,
        "icon": "a-b_c",
        "custom_channel_warning_en": "y " * 70 + "end",
        "custom_channel_warning_nl": "null",
    },
    {"name": "- dash", "icon": "~", "custom_channel_warning_en": "@at", "custom_channel_warning_nl": "  padded  "},
]


def channels(items: list[dict[str, object]]) -> list[RemoteChannel]:
    return [RemoteChannel.from_api({"id": i, "type": "custom", **item}) for i, item in enumerate(items, start=1)]


def tricky_export() -> str:
    return export.export_channels(
        channels(TRICKY),
        variables=TENANTS["production"].vars,
        tenants=TENANTS,
        channel_tenants={"on": ["production"]},
        ignore=("Old fax",),
    ).text


def safe_dump_export(monkeypatch: pytest.MonkeyPatch, *args: object, **kwargs: object) -> str:
    """The export as ``yaml.safe_dump`` writes it: the whole document through PyYAML's own emitter."""
    with monkeypatch.context() as patched:
        patched.setattr(export, "scalars", lambda *_, **__: None)
        patched.setattr(export, "FAST_DUMPER", yaml.SafeDumper)
        return export.export_channels(*args, **kwargs).text  # type: ignore[arg-type]


def test_export_text_is_the_golden_one() -> None:
    assert yamlwrite.FAST_DUMPER is getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    assert tricky_export() == GOLDEN.read_text(encoding="utf-8")


def test_without_libyaml_export_falls_back_to_the_same_text() -> None:
    # a fresh process: the modules must pick their emitter at import time, and reloading them here
    # would leave other modules holding the old classes
    code = (
        "import sys, yaml; del yaml.CSafeDumper, yaml.CSafeLoader\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from reconciler import yamlwrite\n"
        "assert yamlwrite.FAST_DUMPER is yaml.SafeDumper\n"
        "import test_export_dumper\n"
        "sys.stdout.write(test_export_dumper.tricky_export())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == GOLDEN.read_text(encoding="utf-8")


WARNING = "abcXYZ019-_:;>+()/!?,.#@$*&'\"À ȕ\\{}[]~|%`"
EDGES = [
    "a: b",
    "x #y",
    "#x",
    "- x",
    "-x",
    "on",
    "1e3",
    "0o17",
    "...",
    "---x",
    " x",
    "x ",
    "a:",
    "?x",
    "? x",
    "${env:X}",
    "$${",
    "'q'",
    '"q"',
    "(a)",
    "a,b",
    "{a}",
    "~",
    "=",
    "<<",
    "1_000",
    "2001-12-14",
    ".5",
    "/p",
]
fields = st.fixed_dictionaries(
    {
        "name": st.text("abcXYZ019 .-_", min_size=1, max_size=30),
        "icon": st.sampled_from(["chat", "on", "no", "y", "a-b_c", "1", "0x1f", "null"]),
        "custom_channel_endpoint": st.text("abc019.:/-?&=", max_size=60),
        "custom_channel_warning_en": st.one_of(st.sampled_from(EDGES), st.text(WARNING, max_size=40)),
        "custom_channel_warning_nl": st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
        "include_signature": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(fields, max_size=6),
    st.dictionaries(st.sampled_from(["host", "brand"]), st.text("abc.x-", max_size=9)),
    st.sets(st.sampled_from(["a", "on", "b c"]), max_size=2),
)
def test_export_writes_what_safe_dump_writes(
    items: list[dict[str, object]], variables: dict[str, str], limited: set[str]
) -> None:
    remote = channels(items)
    limits = {c.name: sorted(limited) for c in remote[:2]}
    text = export.export_channels(remote, variables=variables, channel_tenants=limits).text
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert text == safe_dump_export(monkeypatch, remote, variables=variables, channel_tenants=limits)
