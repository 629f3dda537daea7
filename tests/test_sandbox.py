"""The emulator as the channel's other end: agent replies delivered to a bridge, over real HTTP.

A test bridge (tests/bridge.py) verifies each delivery with the Standard Webhooks reference library.
The scheme is the project's assumption (Omnidesk does not document it): these tests pin that the
emulator does what the docs say it assumes, and that a bridge built on the reference library accepts it.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from clihelp import run_cli

from reconciler.emulator import Emulator, serve_in_thread
from reconciler.emulator.outbound import OutboundSettings, sign
from tests.bridge import Bridge, running
from tests.eco_tools import python_tool

SECRET = "bridge-secret-1"
FAST = OutboundSettings(backoff_base=0.05)


@contextmanager
def started(outbound: OutboundSettings = FAST) -> Iterator[tuple[Emulator, serve_in_thread]]:
    """An emulator with these delivery settings, served over real HTTP; stopped and closed after."""
    emu = Emulator(outbound=outbound)
    server = serve_in_thread(emu).start()
    try:
        yield emu, server
    finally:
        server.stop()
        emu.close()


@pytest.fixture
def sandbox() -> Iterator[tuple[Emulator, serve_in_thread]]:
    with started() as running_sandbox:
        yield running_sandbox


def channel(
    emu: Emulator, endpoint: str, *, signed: bool = True, secret: str = SECRET, name: str = "SMS gateway"
) -> int:
    return emu.seed_channels(
        [
            {
                "name": name,
                "custom_channel_endpoint": endpoint,
                "include_signature": "true" if signed else "false",
                "custom_channel_secret": secret,
            }
        ]
    )[0]


def cli(server: serve_in_thread, *args: str):  # type: ignore[no-untyped-def]
    return run_cli([*args, "--url", server.url], {"OMNIDESK_API_KEY": "demo"})


def ticket(server: serve_in_thread, name: str = "SMS gateway") -> int:
    sent = cli(
        server,
        "message",
        "send",
        "--channel",
        name,
        "--message",
        "Where is my parcel?",
        "--from",
        "+31600000000",
        "--format",
        "json",
    )
    assert sent.exit_code == 0, sent.output
    return int(json.loads(sent.stdout)["ticketID"])


def test_a_reply_reaches_the_bridge_signed_and_the_reference_library_verifies_it(sandbox) -> None:
    emu, server = sandbox
    with running(Bridge(secret=SECRET.encode())) as bridge:
        channel_id = channel(emu, bridge.url)
        ticket_id = ticket(server)
        result = cli(
            server, "message", "reply", "--ticket", str(ticket_id), "--message", "On its way!", "--agent", "Sam"
        )
    assert result.exit_code == 0, result.output
    assert ": delivered." in result.stdout
    assert "assumed" in result.stderr
    assert [s.method for s in bridge.seen] == ["OPTIONS", "POST"]
    post = bridge.posts[0]
    assert post.verified is True, post.error
    body = json.loads(post.body)
    assert body["channelID"] == channel_id and body["ticketID"] == ticket_id
    assert body["message"] == "On its way!" and body["sender"]["name"] == "Sam"
    assert body["toAddress"] == "+31600000000"
    assert set(body) == {"type", "channelID", "ticketID", "messageID", "message", "sender", "toAddress", "createdAt"}
    assert post.headers["webhook-signature"].startswith("v1,")
    assert SECRET not in json.dumps(post.headers) + post.body.decode()
    outbound = [m for t in emu.tickets() for m in t["messages"] if m.get("direction") == "outbound"]
    assert [m["message"] for m in outbound] == ["On its way!"]


def test_a_tampered_body_or_a_wrong_secret_is_rejected_by_the_bridge(sandbox) -> None:
    emu, server = sandbox
    with running(Bridge(secret=SECRET.encode())) as bridge:
        channel(emu, bridge.url)
        cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi")
    good = bridge.posts[0]
    assert bridge.verify(good.headers, good.body) == (True, "")
    tampered = good.body.replace(b"Hi", b"Ho")
    assert bridge.verify(good.headers, tampered)[0] is False
    wrong = Bridge(secret=b"another-secret")
    assert wrong.verify(good.headers, good.body)[0] is False


def test_a_bridge_with_the_wrong_secret_answers_401_and_the_delivery_fails_after_5_retries(sandbox) -> None:
    emu, server = sandbox
    with running(Bridge(secret=b"not-the-channel-secret")) as bridge:
        channel(emu, bridge.url)
        result = cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi", "--format", "json")
    assert result.exit_code == 1
    delivery = json.loads(result.stdout)
    assert delivery["state"] == "failed"
    assert [a["status"] for a in delivery["attempts"]] == [401] * 6
    assert all(p.verified is False for p in bridge.posts)
    assert len({p.headers["webhook-id"] for p in bridge.posts}) == 1  # one message, one id, on every retry


def test_retries_follow_the_doubling_schedule_with_jitter_and_stop_at_the_first_success() -> None:
    with (
        started(OutboundSettings(backoff_base=0.2)) as (emu, server),
        running(Bridge(secret=SECRET.encode(), fail_first=3)) as bridge,
    ):
        channel(emu, bridge.url)
        result = cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi", "--format", "json")
    assert result.exit_code == 0, result.output
    delivery = json.loads(result.stdout)
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 500, 204]
    schedule = delivery["schedule"]
    assert len(schedule) == 5
    for n, planned in enumerate(schedule):
        assert 0.2 * 2**n * 0.8 <= planned <= 0.2 * 2**n * 1.2
    gaps = [b.at - a.at for a, b in itertools.pairwise(bridge.posts)]
    for gap, planned in zip(gaps, schedule, strict=False):
        assert planned <= gap < planned + 0.5
    assert bridge.posts[-1].verified is True


def test_without_include_signature_no_signature_header_is_sent(sandbox) -> None:
    emu, server = sandbox
    with running(Bridge()) as bridge:
        channel(emu, bridge.url, signed=False)
        result = cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi")
    assert result.exit_code == 0, result.output
    assert "unsigned" in result.stdout
    headers = bridge.posts[0].headers
    assert "webhook-signature" not in headers and headers["webhook-id"].startswith("msg_")


def test_a_whsec_secret_is_used_decoded_as_the_libraries_do(sandbox) -> None:
    emu, server = sandbox
    key = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    with running(Bridge(secret=key)) as bridge:
        channel(emu, bridge.url, secret=key)
        result = cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi")
    assert result.exit_code == 0, result.output
    assert bridge.posts[0].verified is True, bridge.posts[0].error


def test_an_endpoint_that_refuses_the_options_probe_gets_no_post(sandbox) -> None:
    emu, server = sandbox
    with running(Bridge(secret=SECRET.encode(), allow="GET")) as bridge:
        channel(emu, bridge.url)
        result = cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi", "--format", "json")
    assert result.exit_code == 1
    delivery = json.loads(result.stdout)
    assert (
        "OPTIONS probe: answered 204 with Allow: 'GET'; the endpoint must allow POST"
        in delivery["attempts"][0]["error"]
    )
    assert bridge.posts == []


def test_an_answer_slower_than_one_second_is_a_failed_attempt() -> None:
    with (
        started(OutboundSettings(backoff_base=0.01, retries=1)) as (emu, server),
        running(Bridge(secret=SECRET.encode(), delay=1.5)) as bridge,
    ):
        channel(emu, bridge.url)
        result = cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi", "--format", "json")
    delivery = json.loads(result.stdout)
    assert [a["error"] for a in delivery["attempts"]] == ["no answer within 1 s"] * 2
    assert all(1000 <= a["latency_ms"] < 1400 for a in delivery["attempts"])


def test_an_endpoint_beyond_this_machine_is_not_reached(sandbox) -> None:
    emu, server = sandbox
    channel(emu, "https://bridge.example.com/in")
    result = cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi")
    assert result.exit_code == 1
    assert ": not sent." in result.stdout
    delivery = emu.outbox.all()[0]
    assert "bridge.example.com is not on this machine" in delivery.attempts[0].error
    assert "--forward-to" in delivery.attempts[0].error


def test_forward_to_delivers_every_channel_to_one_url_signed_with_the_printed_secret() -> None:
    with running(Bridge()) as bridge:
        settings = OutboundSettings(
            backoff_base=0.05,
            forward_to=bridge.url,
            forward_secret="whsec_" + base64.b64encode(b"forwarded-secret-bytes").decode(),
        )
        bridge.secret = settings.forward_secret
        with started(settings) as (emu, server):
            channel(emu, "https://bridge.example.com/a", name="A")
            channel(emu, "https://other.example.com/b", signed=False, name="B")
            for name in ("A", "B"):
                result = cli(server, "message", "reply", "--ticket", str(ticket(server, name)), "--message", name)
                assert result.exit_code == 0, result.output
    assert [json.loads(p.body)["message"] for p in bridge.posts] == ["A", "B"]
    assert all(p.verified for p in bridge.posts)


def test_redeliver_sends_the_same_webhook_id_again(sandbox) -> None:
    emu, server = sandbox
    with running(Bridge(secret=SECRET.encode())) as bridge:
        channel(emu, bridge.url)
        cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi")
        again = cli(server, "message", "redeliver", "1", "--format", "json")
    assert again.exit_code == 0, again.output
    assert len(json.loads(again.stdout)["attempts"]) == 2
    first, second = bridge.posts
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert second.verified is True


@pytest.mark.parametrize("fault", ["duplicate", "clock-skew", "two-signatures"])
def test_delivery_faults_a_bridge_must_survive(fault: str) -> None:
    with (
        started(OutboundSettings(backoff_base=0.01, retries=0, faults=frozenset({fault}))) as (emu, server),
        running(Bridge(secret=SECRET.encode())) as bridge,
    ):
        channel_id = channel(emu, bridge.url)
        ticket_id = ticket(server)
        cli(server, "message", "reply", "--ticket", str(ticket_id), "--message", "first")
        if fault == "two-signatures":  # the secret is rotated: the next delivery carries both
            update = cli(server, "message", "reply", "--ticket", str(ticket_id), "--message", "x")
            assert update.exit_code == 0
            emu.handle(
                "PUT",
                f"/api/v2/channel/{channel_id}",
                {},
                {"apikey": "demo", "content-type": "application/x-www-form-urlencoded"},
                b"custom_channel_secret=rotated-2",
            )
        cli(server, "message", "reply", "--ticket", str(ticket_id), "--message", "second")
    last = bridge.posts[-1]
    if fault == "duplicate":
        assert len(bridge.posts) == 4
        assert bridge.posts[0].headers["webhook-id"] == bridge.posts[1].headers["webhook-id"]
    elif fault == "clock-skew":
        assert last.verified is False and "too new" in last.error
    else:
        signatures = last.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2
        assert last.verified is True  # the bridge still has the old secret: the old signature verifies
        assert Bridge(secret=b"rotated-2").verify(last.headers, last.body)[0] is True


DOC = Path(__file__).resolve().parent.parent / "docs" / "how-to" / "bridge-sandbox.md"


def doc_vectors() -> list[tuple[str, int, bytes, str, str]]:
    """The test vectors table of the docs page: what a bridge developer copies is what is tested."""
    rows = re.findall(r"^\| `(msg_\w+)` \| `(\d+)` \| `(.+?)` \| `(.+?)` \| `(v1,.+?)` \|$", DOC.read_text(), re.M)
    assert len(rows) == 2, rows
    return [(i, int(t), b.encode(), s, sig) for i, t, b, s, sig in rows]


@pytest.mark.parametrize("webhook_id, timestamp, body, secret, expected", doc_vectors())
def test_the_docs_vectors_match_our_signer_and_the_reference_library(
    webhook_id, timestamp, body, secret, expected
) -> None:
    webhooks = python_tool("standardwebhooks")
    assert sign(secret, webhook_id, timestamp, body) == expected
    key: Any = secret if secret.startswith("whsec_") else secret.encode()
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    assert webhooks.Webhook(key).sign(webhook_id, moment, body.decode()) == expected


def test_the_docs_verify_snippet_accepts_a_real_delivery_and_refuses_a_tampered_one(sandbox) -> None:
    python_tool("standardwebhooks")
    snippet = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert snippet is not None
    scope: dict[str, Any] = {}
    exec(snippet.group(1), scope)
    emu, server = sandbox
    with running(Bridge()) as bridge:
        channel(emu, bridge.url)
        cli(server, "message", "reply", "--ticket", str(ticket(server)), "--message", "Hi")
    post = bridge.posts[0]
    assert scope["verify"](SECRET, post.body, post.headers)["message"] == "Hi"
    with pytest.raises(scope["WebhookVerificationError"]):
        scope["verify"](SECRET, post.body.replace(b"Hi", b"Ho"), post.headers)


def test_the_sandbox_calls_need_a_key_and_replies_need_message_create(sandbox) -> None:
    _emu, server = sandbox
    url = f"{server.url}/api/v2/emulator/deliveries"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"apiKey": "demo"}).status_code == 200
    reader = Emulator(api_keys={"ro-key": {"CHANNEL_READ"}})
    with serve_in_thread(reader) as other:
        refused = httpx.post(
            f"{other.url}/api/v2/emulator/reply", headers={"apiKey": "ro-key"}, data={"ticketID": "1", "message": "x"}
        )
    reader.close()
    assert refused.status_code == 403 and "MESSAGE_CREATE" in refused.json()["message"]


def test_a_reply_on_an_unknown_ticket_is_a_clear_error(sandbox, tmp_path: Path) -> None:
    _, server = sandbox
    result = cli(server, "message", "reply", "--ticket", "999", "--message", "Hi")
    assert result.exit_code == 1
    assert "ticket 999 does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_a_credential_in_the_endpoint_never_shows_in_reply_or_redeliver(sandbox) -> None:
    """The canary rule of every other command (tests/test_secure_canary.py) for the sandbox's commands."""
    emu, server = sandbox
    canary = "canary-endpoint-key-4242"
    with running(Bridge()) as bridge:
        channel(emu, f"{bridge.url}?key={canary}", signed=False)
        ticket_id = ticket(server)
        outputs = [
            cli(server, "message", "reply", "--ticket", str(ticket_id), "--message", "Hi", "--format", fmt, "--verbose")
            for fmt in ("text", "json")
        ]
        outputs.append(cli(server, "message", "redeliver", "1", "--format", "json", "--verbose"))
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    assert all(canary not in r.output for r in outputs)
    assert "key=(sensitive)" in outputs[1].stdout
    assert len(bridge.posts) == 3  # delivered each time, to the endpoint with its credential
