"""A saved plan's secrets and endpoint credentials at apply, end to end: the CLI against the emulator.

Each refusal is asserted as the user reads it (mutation testing of reconciler/secrets.py found these
messages and branches reached by no test): a changed secret or endpoint credential, a missing
endpoint credential, a plan file whose secret digests are damaged or were made with other scrypt
costs, and an update that restores a masked credential next to other fields and a delete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clihelp import RunningEmulator, run_cli, run_on_terminal

from reconciler.errors import SecretMissingError
from reconciler.plan import SECRET_SEND, Create, FrozenMap, Plan, SecretAction
from reconciler.planfile import _document_digest
from reconciler.secrets import Secrets, _scrypt

SECRET = "s3cr3t-of-the-sms-gateway"
KEY = "endpoint-key-4711"
CHANNELS = """\
version: 1
channels:
  - name: SMS
    icon: sms
    custom_channel_endpoint: https://b.acme.com/in?key=${env:K}
    custom_channel_secret: ${env:S}
"""


def _env(emulator: RunningEmulator, **extra: str) -> dict[str, str]:
    return {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "S": SECRET, "K": KEY, **extra}


def _saved(tmp_path: Path, emulator: RunningEmulator, text: str = CHANNELS, *args: str) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(text)
    plan_file = tmp_path / "plan.json"
    made = run_cli(["plan", str(path), "--out", str(plan_file), *args], _env(emulator))
    assert made.exit_code == 0, made.output
    return plan_file


def _reseal(plan_file: Path, document: dict[str, Any]) -> None:
    """Write ``document`` back with a digest that matches, as a plan written that way would have."""
    document["digest"] = _document_digest(
        document["plan"], document["connection"], document["secrets"], document.get("safety")
    )
    plan_file.write_text(json.dumps(document, indent=2))


def _sms(emulator: RunningEmulator) -> dict[str, Any]:
    return next(c for c in emulator.emu.channels() if c["name"] == "SMS")


def test_a_changed_secret_or_endpoint_credential_is_refused_naming_which(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    plan_file = _saved(tmp_path, emulator)
    secret = run_cli(["apply", str(plan_file)], _env(emulator, S="rotated-since"))
    assert secret.exit_code == 1
    assert (
        "Error: secrets changed since the plan, nothing was changed; plan again:\n"
        "  - 'SMS': ${env:S} differs from the value planned with\n"
    ) in secret.stderr
    key = run_cli(["apply", str(plan_file)], _env(emulator, K="another-key"))
    assert key.exit_code == 1
    assert (
        "Error: secrets changed since the plan, nothing was changed; plan again:\n"
        "  - 'SMS': a credential of its endpoint differs from the value planned with\n"
    ) in key.stderr
    assert "rotated-since" not in secret.output and "another-key" not in key.output
    assert not [c for c in emulator.emu.channels() if c["name"] == "SMS"], "nothing was created"


def test_a_missing_endpoint_credential_is_named_with_its_channel(tmp_path: Path, emulator: RunningEmulator) -> None:
    plan_file = _saved(tmp_path, emulator)
    env = {k: v for k, v in _env(emulator).items() if k != "K"}
    missing = run_cli(["apply", str(plan_file)], env)
    assert missing.exit_code == 1
    assert (
        "Error: secrets that must be sent are not set in the environment (nothing was changed):\n"
        "  ${env:K} needed by: SMS\n"
        "Set these variables (export NAME=...) and run again."
    ) in missing.stderr
    assert "Traceback" not in missing.output
    assert not [c for c in emulator.emu.channels() if c["name"] == "SMS"], "nothing was created"


def test_a_saved_update_restores_the_credential_beside_other_fields_and_a_delete(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    emulator.emu.seed_channels(
        [
            {"name": "SMS", "icon": "sms", "custom_channel_endpoint": "https://b.acme.com/in?key=old-key-1"},
            {"name": "Gone"},
        ]
    )
    text = CHANNELS.replace("icon: sms", "icon: note").replace("    custom_channel_secret: ${env:S}\n", "")
    plan_file = _saved(tmp_path, emulator, text + "prune: true\n")
    # the saved update shows, as its whole before and after, that the credential changes but not to what
    update = next(c for c in json.loads(plan_file.read_text())["plan"]["changes"] if c["action"] == "update")
    assert update["before"]["custom_channel_endpoint"] == "https://b.acme.com/in?key=(sensitive)"
    assert update["after"]["custom_channel_endpoint"] == "https://b.acme.com/in?key=(sensitive, changed)"
    code, screen = run_on_terminal(["apply", str(plan_file)], _env(emulator), b"n\n")
    # the plan shown before the question is the one restored from the environment, masked again
    assert code == 1 and "apply cancelled at the prompt; nothing was changed" in screen
    assert (
        '    custom_channel_endpoint  "https://b.acme.com/in?key=(sensitive)" -> '
        '"https://b.acme.com/in?key=(sensitive, changed)"'
    ) in screen
    assert '    icon                     "sms" -> "note"' in screen and KEY not in screen
    applied = run_cli(["apply", str(plan_file)], _env(emulator))
    assert applied.exit_code == 0, applied.output
    assert "Apply: 0 created, 1 updated, 1 deleted (of 2 planned)." in applied.stderr
    sms = _sms(emulator)
    assert sms["icon"] == "note"
    assert sms["custom_channel_endpoint"] == f"https://b.acme.com/in?key={KEY}"
    assert "Gone" not in {c["name"] for c in emulator.emu.channels()}
    assert KEY not in applied.output + plan_file.read_text()


def test_a_literal_endpoint_credential_is_not_saved_and_the_message_says_how(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        CHANNELS.replace("key=${env:K}", "key=literal-key-9")
        + "  - name: IG\n    custom_channel_endpoint: https://ig.acme.com/in?token=literal-key-8\n"
    )
    saved = run_cli(["plan", str(path), "--out", str(tmp_path / "plan.json")], _env(emulator))
    assert saved.exit_code == 1
    assert (
        "Error: a saved plan reads an endpoint's credentials from the environment when applied, but these "
        "channels have one written in the file: IG, SMS. Write it as key=${env:NAME} instead; nothing was saved"
    ) in saved.stderr
    assert not (tmp_path / "plan.json").exists() and "literal-key-9" not in saved.output
    assert "literal-key-8" not in saved.output


def test_a_plan_file_secret_not_from_the_environment_is_refused(tmp_path: Path, emulator: RunningEmulator) -> None:
    # plan --out never writes such a plan; one written by hand or another tool is refused, not applied
    plan_file = _saved(tmp_path, emulator)
    document = json.loads(plan_file.read_text())
    (change,) = document["plan"]["changes"]
    del change["secret"]["env_var"]
    _reseal(plan_file, document)
    refused = run_cli(["apply", str(plan_file)], _env(emulator))
    assert refused.exit_code == 1
    assert (
        "Error: 'SMS': the plan sends a secret that is not from ${env:...}; saved plans read secrets from "
        "the environment only"
    ) in refused.stderr
    assert not [c for c in emulator.emu.channels() if c["name"] == "SMS"]


def test_damaged_secret_digests_are_refused_naming_the_damage(tmp_path: Path, emulator: RunningEmulator) -> None:
    plan_file = _saved(tmp_path, emulator)
    document = json.loads(plan_file.read_text())
    document["secrets"]["kdf"] = "bcrypt"
    _reseal(plan_file, document)
    unknown = run_cli(["apply", str(plan_file)], _env(emulator))
    assert unknown.exit_code == 1
    assert "Error: the secret digests are damaged (ValueError); plan again\n" in unknown.stderr
    # costs hashlib's scrypt refuses (over 64 MiB, n not a power of two) are damage, not an internal error
    for n in (2**16, 1000):
        document["secrets"].update(kdf="scrypt", n=n)
        _reseal(plan_file, document)
        costly = run_cli(["apply", str(plan_file)], _env(emulator))
        assert costly.exit_code == 1
        assert "Error: the secret digests are damaged (ValueError); plan again\n" in costly.stderr
    del document["secrets"]["kdf"]
    _reseal(plan_file, document)
    no_kdf = run_cli(["apply", str(plan_file)], _env(emulator))
    assert no_kdf.exit_code == 1
    assert "Error: the secret digests are damaged (KeyError); plan again\n" in no_kdf.stderr


def test_digests_made_with_other_scrypt_costs_still_apply(tmp_path: Path, emulator: RunningEmulator) -> None:
    # The costs are stored beside the digests so that a plan saved with other ones (an older or newer
    # version) is checked with its own: n=2**15 needs 32 MiB, over hashlib's default memory cap.
    plan_file = _saved(tmp_path, emulator)
    document = json.loads(plan_file.read_text())
    digests = document["secrets"]
    n, r, p = 2**15, 8, 2
    values = {"SMS": SECRET, "endpoint:SMS": f"https://b.acme.com/in?key={KEY}"}
    assert set(digests["digests"]) == set(values)
    digests.update(n=n, r=r, p=p, digests={k: _scrypt(v, k, digests["salt"], n, r, p) for k, v in values.items()})
    _reseal(plan_file, document)
    applied = run_cli(["apply", str(plan_file)], _env(emulator))
    assert applied.exit_code == 0, applied.output
    assert _sms(emulator)["custom_channel_secret"] == SECRET
    stale = run_cli(["apply", str(plan_file)], _env(emulator, S="not-the-planned-one"))
    assert stale.exit_code == 1 and "${env:S} differs from the value planned with" in stale.stderr


def test_secrets_iterate_the_channels_that_have_a_value() -> None:
    secrets = Secrets({"SMS": SECRET, "Empty": ""})
    assert list(secrets) == ["SMS"] and dict(secrets) == {"SMS": SECRET}


def test_a_library_caller_without_a_written_secret_is_told_which_channel() -> None:
    # Through the CLI a secret written in the file is always in Secrets.from_channels; a library
    # caller passing its own Secrets may not have it, and is told so before any write.
    sends = SecretAction(SECRET_SEND, "new channel")
    plan = Plan((Create("SMS", after=FrozenMap({"name": "SMS"}), secret=sends),))
    try:
        Secrets({}).require(plan)
    except SecretMissingError as exc:
        assert "  ${env:(written in the file)} needed by: SMS" in str(exc)
    else:
        raise AssertionError("a plan sending a secret the source lacks was not refused")
