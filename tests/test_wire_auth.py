"""The key's three forms (header, query, Authorization), chosen by option, tenant or environment,
through the CLI against the emulator over real HTTP; in the query form the key is redacted wherever
a URL shows up; a key no header can carry is a clear error that never shows it."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from clihelp import run_cli

from reconciler.client import OmnideskClient
from reconciler.emulator import Emulator
from reconciler.errors import TargetError

# Characters a URL must encode, so the encoded forms are tested too.
KEY = "wire-CANARY+key/8f3e=="
ENCODED = ("wire-CANARY%2Bkey%2F8f3e%3D%3D", "wire-CANARY%2Bkey/8f3e%3D%3D")
FORMS = ("header", "query", "authorization")


def channels_file(tmp_path: Path, tenants: str = "") -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(f"version: 1\n{tenants}channels:\n  - name: SMS gateway\n    icon: phone\n", encoding="utf-8")
    return str(path)


def assert_no_key(text: str) -> None:
    assert KEY not in text and not any(form in text for form in ENCODED), text


@pytest.mark.parametrize("form", FORMS)
def test_each_form_is_accepted_by_an_emulator_taking_only_that_form(make_emulator, tmp_path: Path, form: str) -> None:
    running = make_emulator(api_keys={KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}, auth=form)
    env = {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": KEY}
    result = run_cli(["apply", channels_file(tmp_path), "--yes", "--auth", form, "--verbose"], env)
    assert result.exit_code == 0, result.output
    assert [c["name"] for c in running.emu.channels() if c["type"] == "custom"] == ["SMS gateway"]
    assert_no_key(result.output)
    if form == "query":
        # Every URL holds the key: --verbose shows each URL as sent (the paging kept), key redacted.
        urls = re.findall(r"^http: (?:GET|POST) (\S+) -> 200", result.stderr, flags=re.M)
        assert urls == [
            running.url + "/api/v2/channel?itemStart=0&itemLimit=99&apiKey=[redacted]",
            running.url + "/api/v2/channel?apiKey=[redacted]",
        ], urls


@pytest.mark.parametrize("form", FORMS)
def test_another_form_than_the_server_takes_is_refused_with_a_401(make_emulator, tmp_path: Path, form: str) -> None:
    other = "authorization" if form != "authorization" else "header"
    running = make_emulator(api_keys={KEY: {"CHANNEL_READ"}}, auth=other)
    result = run_cli(
        ["plan", channels_file(tmp_path), "--auth", form], {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": KEY}
    )
    assert result.exit_code == 1
    assert "the API key was refused (the server said: this server takes the API key in" in result.stderr
    assert "Traceback" not in result.output
    assert_no_key(result.output)


def test_the_header_is_the_default_and_the_emulator_takes_header_and_query_by_default(
    make_emulator, tmp_path: Path
) -> None:
    seen: list[dict[str, str]] = []
    running = make_emulator(api_keys={KEY: {"CHANNEL_READ"}}, before_request=lambda m, p, q: seen.append(dict(q)))
    env = {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": KEY}
    assert run_cli(["plan", channels_file(tmp_path)], env).exit_code == 0
    assert "apiKey" not in seen[-1]
    assert run_cli(["plan", channels_file(tmp_path), "--auth", "query"], env).exit_code == 0
    assert seen[-1]["apiKey"] == KEY
    refused = run_cli(["plan", channels_file(tmp_path), "--auth", "authorization"], env)
    assert refused.exit_code == 1
    assert "takes the API key in the apiKey header or the apiKey query parameter" in refused.stderr


def test_emulator_any_accepts_every_form() -> None:
    emu = Emulator(api_keys={KEY: {"CHANNEL_READ"}}, auth="any")
    for headers, query in (({"apiKey": KEY}, {}), ({}, {"apiKey": KEY}), ({"Authorization": f"ApiKey {KEY}"}, {})):
        assert emu.handle("GET", "/api/v2/channel", query, headers, b"")[0] == 200
    assert emu.handle("GET", "/api/v2/channel", {}, {"Authorization": f"Bearer {KEY}"}, b"")[0] == 401
    with pytest.raises(ValueError, match="unknown auth mode"):
        Emulator(auth="cookie")


def test_env_then_tenant_then_option_pick_the_form(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(api_keys={KEY: {"CHANNEL_READ"}}, auth="query")
    tenants = f"tenants:\n  acme:\n    url: {running.url}\n    auth: query\n"
    path = channels_file(tmp_path, tenants)
    env = {"OMNIDESK_API_KEY": KEY, "OMNIDESK_URL": running.url}
    assert run_cli(["plan", path, "--tenant", "acme"], env).exit_code == 0  # the tenant's auth:
    assert run_cli(["plan", path, "--tenant", "acme"], {**env, "OMNIDESK_AUTH": "header"}).exit_code == 0
    assert run_cli(["plan", path, "--tenant", "acme", "--auth", "header"], env).exit_code == 1  # option first
    plain = channels_file(tmp_path)
    assert run_cli(["plan", plain], env).exit_code == 1  # header by default
    assert run_cli(["plan", plain], {**env, "OMNIDESK_AUTH": "query"}).exit_code == 0
    bad = run_cli(["plan", plain], {**env, "OMNIDESK_AUTH": "cookie"})
    assert bad.exit_code == 1
    assert "Error: OMNIDESK_AUTH is 'cookie'; it must be one of: header, query, authorization" in bad.stderr


def test_a_tenant_auth_outside_the_three_forms_is_a_file_error(tmp_path: Path) -> None:
    path = channels_file(tmp_path, "tenants:\n  acme:\n    url: https://acme.omnidesk.com\n    auth: cookie\n")
    result = run_cli(["validate", path])
    assert result.exit_code == 1
    assert "tenants.acme.auth" in result.stderr and "Traceback" not in result.output


def test_a_saved_plan_keeps_its_form_and_never_the_key(make_emulator, tmp_path: Path) -> None:
    running = make_emulator(api_keys={KEY: {"CHANNEL_READ", "CHANNEL_CUD"}}, auth="query")
    env = {"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": KEY}
    plan_path = tmp_path / "plan.json"
    saved = run_cli(["plan", channels_file(tmp_path), "--auth", "query", "--out", str(plan_path)], env)
    assert saved.exit_code in (0, 2), saved.output
    text = plan_path.read_text()
    assert_no_key(text)
    assert json.loads(text)["connection"]["auth"] == "query"
    applied = run_cli(["apply", str(plan_path), "--yes"], {"OMNIDESK_API_KEY": KEY})
    assert applied.exit_code == 0, applied.output
    assert_no_key(applied.output)


def test_query_form_failures_and_logs_never_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused for {request.url}", request=request)

    client = OmnideskClient(
        "https://tenant.omnidesk.com",
        KEY,
        auth="query",
        max_retries=1,
        transport=httpx.MockTransport(server),
        sleep=lambda s: None,
    )
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpx").info("HTTP Request: GET %s", "https://tenant.omnidesk.com/?apiKey=" + ENCODED[0])
        with pytest.raises(Exception) as info:
            client.list_channels()
    client.close()
    error = info.value
    chain = []
    while error is not None:  # what a traceback would show
        chain.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ if error.__cause__ is not None or error.__suppress_context__ else error.__context__
    text = "\n".join(chain + [r.getMessage() for r in caplog.records] + [repr(client)])
    assert "apiKey=[redacted]" in text
    assert_no_key(text)


@pytest.mark.parametrize(
    "bad, what",
    [
        ("abc\ndef", "a line break at position 4 of 7"),
        ("abcdéf", "a non-ASCII character at position 5 of 6"),
        ("abc\x07def", "a control character (U+0007) at position 4 of 7"),
        (" abcdef", "a space at position 1 of 7"),
    ],
)
def test_a_key_no_header_can_carry_is_a_clear_error_without_the_key(
    emulator, tmp_path: Path, bad: str, what: str
) -> None:
    result = run_cli(["plan", channels_file(tmp_path)], {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": bad})
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the API key in OMNIDESK_API_KEY contains {what}, which an HTTP header "
        "cannot carry; check the value of OMNIDESK_API_KEY (a stray newline or space "
        "from a file?)\n"
    )
    assert emulator.emu.stats["list"] == 0
    with pytest.raises(TargetError) as info:
        OmnideskClient(emulator.url, bad)
    assert bad not in str(info.value)


def test_emulator_command_takes_the_auth_and_paging_knobs() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "emulator",
            "--port",
            "0",
            "--auth",
            "authorization",
            "--max-item-limit",
            "2",
            "--list-type",
            "channels",
            "--quirk",
            "no-item-total",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        banner = [proc.stdout.readline() for _ in range(2)]
        assert banner[1] == "Auth: the key only as authorization\n", banner
        with httpx.Client(base_url=url, timeout=10) as c:
            assert c.get("/api/v2/channel", headers={"apiKey": "demo"}).status_code == 401
            body = c.get("/api/v2/channel?itemLimit=99", headers={"Authorization": "apikey demo"}).json()
        assert body["type"] == "channels" and len(body["items"]) == 2 and "itemTotal" not in body
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("command", [["plan"], ["apply"], ["export"], ["import"], ["clone"], ["message", "send"]])
def test_every_command_that_talks_to_a_tenant_takes_auth_and_timeout(command: list[str]) -> None:
    shown = run_cli([*command, "--help"])
    assert shown.exit_code == 0
    assert "--auth [header|query|authorization]" in shown.stdout and "--timeout SECONDS" in shown.stdout
