"""Canary keys and secrets through a full run: not one output, log line or written file shows them.

One pass over everything a user or a pipeline does: validate, plan in every format, plan --out,
apply of the saved plan, apply with --rotate-secrets, export, clone between two tenants (with
--export-out and --out), message send, every auth form with --verbose, and the errors: an unknown
key, a 403, a refused host, a key that cannot be a header, a missing secret, an emulator started
with --api-key. Every stdout, stderr, log record and file written is then searched for each canary
(and its URL-encoded form). The emulator's own state may hold secrets, as a tenant does: it must
be 0600.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from clihelp import Result, RunningEmulator, run_cli

from reconciler.emulator import ALL_PERMISSIONS

STAGING_KEY = "canary-staging-key-5b1e"
PROD_KEY = "canary-prod-key-9d2c"
READ_ONLY_KEY = "canary-readonly-key-77aa"
WRONG_KEY = "canary-wrong-key-31f0"
CLI_KEY = "canary-cli-key-0c4d"
SMS_SECRET = "canary-sms-secret-e8d1"
IG_SECRET = "canary-ig-secret-44b2"
STAGING_SECRET = "canary-staging-secret-a9f7"
ENDPOINT_KEY = "canary-endpoint-key-3c5b"  # a credential in an endpoint's query string (?key=...)
ROTATED_ENDPOINT_KEY = "canary-endpoint-key-rotated-77e0"
CANARIES = [
    STAGING_KEY,
    PROD_KEY,
    READ_ONLY_KEY,
    WRONG_KEY,
    CLI_KEY,
    SMS_SECRET,
    IG_SECRET,
    STAGING_SECRET,
    ENDPOINT_KEY,
    ROTATED_ENDPOINT_KEY,
]

CHANNELS = """\
version: 1
tenants:
  staging:
    url: {staging}
    api_key_env: STAGING_KEY
    vars: {{host: bridge.staging.acme.com}}
  production:
    url: {production}
    api_key_env: PROD_KEY
    vars: {{host: bridge.acme.com}}
channels:
  - name: SMS gateway
    icon: sms
    custom_channel_endpoint: https://${{var:host}}/sms?key=${{env:SMS_ENDPOINT_KEY}}
    custom_channel_secret: ${{env:SMS_SECRET}}
    custom_channel_warning_en: Replies may take a minute
  - name: Instagram DM
    icon: instagram
    custom_channel_endpoint: https://${{var:host}}/ig
    custom_channel_secret: ${{env:IG_SECRET}}
"""


class Run:
    """Runs the CLI, keeping every result for the final search."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.results: list[tuple[list[str], Result]] = []

    def __call__(self, *args: str, expect: int = 0, **env: str) -> Result:
        result = run_cli(list(args), {**self.env, **env})
        self.results.append((list(args), result))
        assert result.exit_code == expect, (args, result.output[-3000:])
        assert "Traceback" not in result.output, args
        return result


def test_no_canary_shows_anywhere_in_a_full_run(
    tmp_path: Path, make_emulator: Callable[..., RunningEmulator], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    everything = {STAGING_KEY: set(ALL_PERMISSIONS), READ_ONLY_KEY: {"CHANNEL_READ"}}
    staging = make_emulator(api_keys=everything, state_path=tmp_path / "staging-state.json", auth="any")
    production = make_emulator(api_keys={PROD_KEY: set(ALL_PERMISSIONS)})
    staging.emu.seed_channels([{"name": "Staging only", "custom_channel_secret": STAGING_SECRET}])
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS.format(staging=staging.url, production=production.url))
    file = str(path)
    run = Run(
        {
            "STAGING_KEY": STAGING_KEY,
            "PROD_KEY": PROD_KEY,
            "SMS_SECRET": SMS_SECRET,
            "IG_SECRET": IG_SECRET,
            # clone reads the export of staging, whose placeholders are named after the channels
            "SMS_GATEWAY_SECRET": SMS_SECRET,
            "INSTAGRAM_DM_SECRET": IG_SECRET,
            "STAGING_ONLY_SECRET": STAGING_SECRET,
            "SMS_ENDPOINT_KEY": ENDPOINT_KEY,
            "SMS_GATEWAY_ENDPOINT_KEY": ENDPOINT_KEY,
        }
    )

    run("validate", file)
    for fmt in ("json", "github", "sarif"):
        run("validate", file, "--format", fmt)
    run("probe", file, "--tenant", "staging", "--timeout", "1")
    run("tenants", file, "--format", "json")
    for fmt in ("text", "markdown", "json"):
        run("plan", file, "--tenant", "staging", "--format", fmt, "--verbose")
    for form in ("header", "query", "authorization"):
        run("plan", file, "--tenant", "staging", "--auth", form, "--verbose")
    plan_file = tmp_path / "plan.json"
    run("plan", file, "--tenant", "staging", "--out", str(plan_file), "--verbose")
    run("apply", str(plan_file), "--yes", "--verbose")
    assert {c["name"]: c["custom_channel_secret"] for c in staging.emu.channels()}["SMS gateway"] == SMS_SECRET
    run("apply", file, "--tenant", "staging", "--rotate-secrets", "--yes", "--verbose")
    # The endpoint's credential rotates: every plan format still shows that it changed, never what to.
    for fmt in ("text", "markdown", "json", "sarif"):
        shown = run("plan", file, "--tenant", "staging", "--format", fmt, SMS_ENDPOINT_KEY=ROTATED_ENDPOINT_KEY)
        assert fmt == "sarif" or "(sensitive, changed)" in shown.stdout, shown.stdout
    rotated_plan = tmp_path / "rotated-plan.json"
    run("plan", file, "--tenant", "staging", "--out", str(rotated_plan), SMS_ENDPOINT_KEY=ROTATED_ENDPOINT_KEY)
    stale = run("apply", str(rotated_plan), expect=1, SMS_ENDPOINT_KEY=ENDPOINT_KEY + "-other")
    assert "a credential of its endpoint differs" in stale.stderr
    run("apply", str(rotated_plan), "--verbose", SMS_ENDPOINT_KEY=ROTATED_ENDPOINT_KEY)
    sms = {c["name"]: c for c in staging.emu.channels()}["SMS gateway"]
    assert sms["custom_channel_endpoint"] == f"https://bridge.staging.acme.com/sms?key={ROTATED_ENDPOINT_KEY}"
    run("apply", file, "--tenant", "staging", "--yes")  # and back, from the file
    run("plan", file, "--tenant", "staging", "--detailed-exitcode", "--rotate-secrets", expect=2)
    run("export", file, "--tenant", "staging", "--out", str(tmp_path / "export.yaml"), "--verbose")
    run("export", "--url", staging.url, "--verbose", OMNIDESK_API_KEY=READ_ONLY_KEY)
    run(
        "clone",
        file,
        "--from",
        "staging",
        "--to",
        "production",
        "--export-out",
        str(tmp_path / "cloned.yaml"),
        "--out",
        str(tmp_path / "clone-plan.json"),
        "--verbose",
    )
    run("clone", file, "--from", "staging", "--to", "production", "--yes", "--verbose")
    imported = tmp_path / "imported.yaml"
    imported.write_text("version: 1\nchannels: []\n")
    run("import", str(imported), "--url", staging.url, OMNIDESK_API_KEY=STAGING_KEY)
    assert "${env:SMS_GATEWAY_ENDPOINT_KEY}" in imported.read_text()
    run(
        "message",
        "send",
        "--file",
        file,
        "--tenant",
        "production",
        "--channel",
        "SMS gateway",
        "--message",
        "hello",
        "--verbose",
    )

    # Errors: each names what is wrong, none shows a key or a secret.
    refused = run("plan", file, "--tenant", "staging", "--verbose", expect=1, STAGING_KEY=WRONG_KEY)
    assert "401" in refused.stderr
    forbidden = run(
        "apply",
        file,
        "--tenant",
        "staging",
        "--rotate-secrets",
        "--yes",
        "--verbose",
        expect=1,
        STAGING_KEY=READ_ONLY_KEY,
    )
    assert "403" in forbidden.stderr
    elsewhere = run("plan", file, "--tenant", "production", "--url", "https://collector.example.net", expect=1)
    assert "refusing to send the API key" in elsewhere.stderr
    in_url = run("plan", file, "--tenant", "production", "--url", f"https://ops:{PROD_KEY}@acme.omnidesk.com", expect=1)
    assert "carries credentials" in in_url.stderr
    newline = run("plan", file, "--tenant", "staging", expect=1, STAGING_KEY=STAGING_KEY + "\nX-Evil: 1")
    assert "STAGING_KEY" in newline.stderr
    no_secret = run("apply", file, "--tenant", "production", "--rotate-secrets", "--yes", expect=1, IG_SECRET="")
    assert "IG_SECRET" in no_secret.stderr
    changed = run("apply", str(plan_file), "--yes", expect=1, SMS_SECRET=SMS_SECRET + "-rotated")
    assert "nothing was changed" in changed.stderr or "No changes" in changed.stdout

    served = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "--port", "0", "--api-key", f"{CLI_KEY}=CHANNEL_READ"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert served.stdout is not None
    banner = "".join(iter_until(served.stdout.readline, "Press Ctrl-C to stop.\n"))
    served.terminate()
    tail, served_err = served.communicate(timeout=10)

    texts = {f"{' '.join(args)} (stdout)": r.stdout for args, r in run.results}
    texts |= {f"{' '.join(args)} (stderr)": r.stderr for args, r in run.results}
    texts["log records"] = "\n".join(f"{r.name}: {r.getMessage()} {r.args!r}" for r in caplog.records)
    texts["emulator process"] = banner + tail + served_err
    state_files = {"staging-state.json", "staging-state.json.journal", "staging-state.json.lock"}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in state_files]
    assert {p.name for p in written} >= {
        "channels.yaml",
        "plan.json",
        "export.yaml",
        "cloned.yaml",
        "clone-plan.json",
        "rotated-plan.json",
        "imported.yaml",
    }
    texts |= {str(p): p.read_bytes().decode("utf-8", "replace") for p in written}
    assert len(caplog.records) > 50 and any("GET /api/v2/channel" in t for t in texts.values()), "the run was logged"
    leaks = [
        (canary, where)
        for canary in CANARIES
        for where, text in texts.items()
        if canary in text or quote(canary, safe="") in text
    ]
    assert leaks == []
    for name in state_files:
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    assert (
        SMS_SECRET
        in (tmp_path / "staging-state.json").read_text() + (tmp_path / "staging-state.json.journal").read_text()
    )


def iter_until(readline: Callable[[], str], last: str) -> list[str]:
    lines: list[str] = []
    while not lines or lines[-1] != last:
        line = readline()
        assert line, lines
        lines.append(line)
    return lines
