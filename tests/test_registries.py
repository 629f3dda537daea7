"""The extension points (issue 18): one table of output formats, one list of plan checks.

A format in ``render.FORMATS`` is offered by every ``--format``; a check appended to
``checks.PLAN_CHECKS`` is run by ``Workflow`` for every command: its findings are warnings of
``plan`` (one tenant and all tenants) and a denying one refuses ``apply``, with nothing written.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler import checks
from reconciler.checks import APPLY, DENY, OFF, PLAN, WARN, CheckContext, Finding, run_checks
from reconciler.errors import PlanRefused, UnsafePlanError
from reconciler.planning import make_plan
from reconciler.render import FORMATS, RenderOptions, render_plan, render_report

CHANNELS = """\
version: 1
channels:
  - name: SMS gateway
    custom_channel_endpoint: https://sms.example.com/hook
"""


def choices(args: list[str]) -> list[str]:
    """The choices ``--help`` of ``args`` offers for --format."""
    text = run_cli([*args, "--help"]).stdout
    found = re.search(r"--format \[([^\]]+)\]", text)
    assert found, text
    return found.group(1).split("|")


@pytest.mark.parametrize(
    "command", [["plan"], ["ci", "github", "plan"], ["ci", "github", "drift"], ["ci", "gitlab", "plan"]]
)
def test_every_format_option_offers_exactly_the_table(command: list[str]) -> None:
    assert choices(command) == list(FORMATS) == ["text", "markdown", "json", "sarif"]


def test_the_format_help_is_read_from_the_table() -> None:
    text = " ".join(run_cli(["plan", "--help"]).stdout.split())
    assert (
        "text for terminals, markdown for pull-request comments, json for machines, sarif for code scanning "
        "(the policy's findings and the secrets rotated, SARIF 2.1.0) (to read;"
    ) in text


def test_a_format_without_a_report_of_its_own_gets_sections_per_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.multitenant import TenantPlan
    from reconciler.render import Format

    plan = make_plan([], [], target="t")
    monkeypatch.setitem(FORMATS, "count", Format("count", "count for tests", lambda p, o: f"{len(p.changes)}\n"))
    assert render_plan(plan, "count") == "0\n"
    report = render_report([TenantPlan("a", plan), TenantPlan("b", error="boom")], "count", RenderOptions())
    assert report == "== a ==\n0\n\n== b ==\nError: boom\n\n2 tenant(s): 0 with changes, 1 failed.\n"


# -- plan checks ---------------------------------------------------------------------------------


def _rule(severity: str):
    def no_sms(context: CheckContext) -> Sequence[Finding]:
        """A policy-like rule: no channel may be called 'SMS ...'."""
        names = tuple(c.name for c in context.plan.changes if c.name.startswith("SMS"))
        return (
            [Finding("no-sms", f"{', '.join(names)}: SMS channels are not allowed", severity, names)] if names else []
        )

    return no_sms


def _planned_context(moment: str) -> CheckContext:
    from reconciler.config import load_channels_file

    return CheckContext(make_plan(load_channels_file("x.yaml", text=CHANNELS, environ={}).channels, []), moment)


def test_run_checks_keeps_every_finding_at_plan_and_refuses_denials_later() -> None:
    def unsafe(context: CheckContext) -> Sequence[Finding]:
        raise UnsafePlanError("too much", "--allow-updates 3")

    found = run_checks(_planned_context(PLAN), [_rule(WARN), unsafe, _rule(OFF)])
    assert [(f.check, f.severity) for f in found] == [("no-sms", WARN), ("unsafe", DENY)]
    assert (
        found[1].warning()
        == "apply will refuse this plan: too much; if that is intended, pass --allow-updates 3 to apply"
    )
    assert run_checks(_planned_context(APPLY), [_rule(WARN), _rule(OFF)])[0].severity == WARN
    with pytest.raises(UnsafePlanError):
        run_checks(_planned_context(APPLY), [unsafe])
    with pytest.raises(PlanRefused) as refused:
        run_checks(_planned_context(APPLY), [_rule(DENY), _rule(WARN)])
    assert str(refused.value) == (
        "the plan checks refuse this plan (nothing was changed):\n  - no-sms: SMS gateway: SMS channels are not allowed"
    )


def test_a_registered_check_warns_in_plan_and_refuses_apply(
    emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS, encoding="utf-8")
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    monkeypatch.setattr(checks, "PLAN_CHECKS", [*checks.PLAN_CHECKS, _rule(DENY)])

    plan = run_cli(["plan", str(path), "--format", "json"], env)
    assert plan.exit_code == 0
    assert "Warning: apply will refuse this plan: SMS gateway: SMS channels are not allowed" in plan.stderr

    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(
        CHANNELS.replace("channels:", f"tenants:\n  one: {{url: '{emulator.url}'}}\nchannels:"), encoding="utf-8"
    )
    every = run_cli(["plan", str(tenants), "--all-tenants", "--format", "json"], env)
    assert json.loads(every.stdout)["tenants"][0]["warnings"] == [
        "apply will refuse this plan: SMS gateway: SMS channels are not allowed"
    ]

    applied = run_cli(["apply", str(path), "--yes"], env)
    assert applied.exit_code == 1
    assert (
        "Error: the plan checks refuse this plan (nothing was changed):\n"
        "  - no-sms: SMS gateway: SMS channels are not allowed\n" in applied.stderr
    )
    assert run_cli(["plan", str(path), "--detailed-exitcode"], env).exit_code == 2  # still nothing created


def _too_many(limit: int, context: CheckContext) -> Sequence[Finding]:
    raise UnsafePlanError(f"more than {limit} SMS channel(s)", "--allow-updates 1")


def test_a_registered_check_without_a_name_is_called_check_in_sarif(
    emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check made with functools.partial has no ``__name__``: its refusal is named "check"
    (mutation testing of checks.py found that default reached by no test)."""
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS, encoding="utf-8")
    env = {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key}
    monkeypatch.setattr(checks, "PLAN_CHECKS", [*checks.PLAN_CHECKS, functools.partial(_too_many, 0)])
    sarif = run_cli(["plan", str(path), "--format", "sarif"], env)
    assert sarif.exit_code == 0, sarif.output
    assert [(r["level"], r["message"]["text"]) for r in json.loads(sarif.stdout)["runs"][0]["results"]] == [
        ("error", "check: more than 0 SMS channel(s); if that is intended, pass --allow-updates 1 to apply")
    ]
