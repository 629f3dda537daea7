"""``repr()`` of everything that holds a key or a secret shows neither (tracebacks, debuggers, logs).

The objects are the real ones a run builds: a plan of the engine against the emulator over HTTP,
with a canary key and a canary secret.
"""

from __future__ import annotations

import pprint
from pathlib import Path

from clihelp import RunningEmulator

from reconciler.model import SecretRef
from reconciler.secrets import SecretDigests, Secrets
from reconciler.target import open_client
from reconciler.workflow import Workflow

KEY = "canary-repr-key-1d9e"
SECRET = "canary-repr-secret-6c0b"


def test_nothing_that_holds_a_key_or_a_secret_shows_it(tmp_path: Path, make_emulator) -> None:
    running: RunningEmulator = make_emulator(api_keys={KEY: {"CHANNEL_READ", "CHANNEL_CUD"}})
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n  - name: SMS gateway\n    custom_channel_secret: ${env:SMS_SECRET}\n")
    engine = Workflow(environ={"OMNIDESK_URL": running.url, "OMNIDESK_API_KEY": KEY, "SMS_SECRET": SECRET})
    planned = engine.plan(path)
    assert planned.target.api_key == KEY and planned.secrets["SMS gateway"] == SECRET  # they are there...
    with open_client(planned.target) as client:
        shown = [repr(client), str(client)]
    held = [
        planned,
        planned.target,
        planned.secrets,
        planned.channels_file,
        planned.plan,
        planned.channels_file.channels[0],
        planned.channels_file.channels[0].secret,
        SecretRef(SECRET, None),
        SecretRef(SECRET, "SMS_SECRET"),
        Secrets({"A": SECRET}),
        SecretDigests.make(planned.plan, planned.secrets),
        engine,
    ]
    shown += [repr(obj) for obj in held] + [pprint.pformat(obj) for obj in held] + [str(obj) for obj in held]
    for text in shown:  # ...and are never shown
        assert KEY not in text and SECRET not in text, text
    assert "SMS_SECRET" in repr(planned.channels_file.channels[0].secret)  # the variable's name is fine
    assert "SMS gateway" in repr(planned.secrets)
