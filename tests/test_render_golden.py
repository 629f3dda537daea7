"""Golden renderings of representative plans in text, Markdown and JSON; one test runs them all.

Run with ``UPDATE_GOLDEN=1`` to rewrite ``tests/golden/render/`` after an intended change, and
review the diff like code. The JSON goldens are also checked against ``schemas/plan.schema.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from clihelp import assert_plan_valid

from reconciler.cli.flags import FLAGS
from reconciler.model import DesiredChannel, RemoteChannel, SecretRef, normalize_fields
from reconciler.plan import Plan
from reconciler.planning import make_plan
from reconciler.render import render_json, render_markdown, render_text
from reconciler.wording import names

GOLDEN = Path(__file__).resolve().parent / "golden" / "render"
TARGET = "production (https://tulipandco.omnidesk.com)"
HOST = "https://bridges.tulipandco.nl"


def remote(id: int, name: str, type: str = "custom", **fields) -> RemoteChannel:
    return RemoteChannel(id=id, type=type, fields=normalize_fields({"name": name, **fields}))


def want(name: str, secret: SecretRef | None = None, previous: tuple[str, ...] = (), **fields) -> DesiredChannel:
    return DesiredChannel(fields=normalize_fields({"name": name, **fields}), secret=secret, previous_names=previous)


def mixed() -> Plan:
    """prune on: a create with a secret, an update keeping its secret, a rename, a delete."""
    return make_plan(
        [
            want(
                "Marketplace inbox",
                SecretRef("mp-s3cret", "MARKETPLACE_BRIDGE_SECRET"),
                icon="shop",
                custom_channel_endpoint=f"{HOST}/marketplace/omnidesk",
                include_signature=True,
            ),
            want(
                "SMS gateway",
                SecretRef("sms-s3cret", "SMS_BRIDGE_SECRET"),
                icon="phone",
                custom_channel_endpoint=f"{HOST}/sms/omnidesk",
                custom_channel_warning_en="Replies over 160 characters are sent as several messages.",
            ),
            want(
                "Instagram DM",
                previous=("Instagram bridge",),
                icon="instagram",
                custom_channel_endpoint=f"{HOST}/instagram/omnidesk",
            ),
        ],
        [
            remote(1, "Email", "email"),
            remote(21, "SMS gateway", icon="chat", custom_channel_endpoint="https://old-bridge.tulipandco.nl/sms"),
            remote(22, "Instagram bridge", icon="instagram", custom_channel_endpoint=f"{HOST}/instagram/omnidesk"),
            remote(23, "Old web form"),
        ],
        prune=True,
        target=TARGET,
    )


def rotation() -> Plan:
    """prune off, --rotate-secrets: a secret-only update, unmanaged channels, a missing secret."""
    return make_plan(
        [
            want("SMS gateway", SecretRef("new-sms-s3cret", "SMS_BRIDGE_SECRET"), icon="phone"),
            want("Instagram DM", SecretRef(None, "INSTAGRAM_BRIDGE_SECRET"), include_signature=True),
        ],
        [
            remote(21, "SMS gateway", icon="phone"),
            remote(22, "Instagram DM"),
            remote(30, "Legacy chat widget"),
            remote(31, "Amazon inbox"),
        ],
        rotate_secrets=True,
        target=TARGET,
    )


def no_changes() -> Plan:
    return make_plan(
        [want("SMS gateway")], [remote(21, "SMS gateway"), remote(30, "Legacy chat widget")], target=TARGET
    )


CASES: dict[str, Callable[[], Plan]] = {"mixed": mixed, "rotation": rotation, "no_changes": no_changes}
RENDERERS = {"txt": render_text, "md": render_markdown, "json": render_json}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_renderings(case: str):
    with names(FLAGS):  # the goldens are what the CLI prints: its words for the engine's parameters
        plan = CASES[case]()
    update = os.environ.get("UPDATE_GOLDEN") == "1"
    mismatched = []
    for ext, render in RENDERERS.items():
        path = GOLDEN / f"{case}.{ext}"
        text = render(plan)
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif path.read_text(encoding="utf-8") != text:
            mismatched.append(path.name)
    assert not mismatched, f"renderings differ from {', '.join(mismatched)} (UPDATE_GOLDEN=1 rewrites them)"
    assert_plan_valid(json.loads((GOLDEN / f"{case}.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_rendering_shows_a_secret_value(case: str):
    plan = CASES[case]()
    for render in RENDERERS.values():
        text = render(plan)
        assert "s3cret" not in text


def test_goldens_cover_every_kind_of_change():
    md = (GOLDEN / "mixed.md").read_text(encoding="utf-8") + (GOLDEN / "rotation.md").read_text(encoding="utf-8")
    for expected in (
        "+ create",
        "~ update",
        "- delete",
        "`Instagram bridge` → `Instagram DM`",
        "(sensitive) will be sent from ${env:MARKETPLACE_BRIDGE_SECRET}",
        "(sensitive) write-only on the server: kept as it is",
        "(rotation: --rotate-secrets)",
        "not managed here",
        "Missing secret",
    ):
        assert expected in md, expected
