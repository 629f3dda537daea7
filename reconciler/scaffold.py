"""What ``init`` writes into a user's repository: a commented starter channels file and the schema.

The file's first line is a yaml-language-server modeline naming the schema by a path relative to
the file, so editors (VS Code's YAML extension, Neovim, Helix, JetBrains) check and complete it in
any repository, without this project's checkout or a network fetch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import InitError
from reconciler.files import write_atomically
from reconciler.schema import SCHEMA_FILE, schema_text
from reconciler.wording import named

CHANNELS_FILE = "channels.yaml"


def modeline(schema: str = SCHEMA_FILE) -> str:
    """The comment line that ties a channels file to its schema (a path relative to the file)."""
    return f"# yaml-language-server: $schema=./{schema}\n"


STARTER = """\
# Omnidesk custom channels as code, for omnidesk-channels.
#   omnidesk-channels validate channels.yaml          check this file offline
#   omnidesk-channels apply channels.yaml --emulator  try it on a local emulator, as it is
#   omnidesk-channels plan channels.yaml              what would change on the tenant (OMNIDESK_URL,
#                                                     OMNIDESK_API_KEY); apply makes it so
# Editors check and complete this file with {schema} beside it (the first line says so);
# after an upgrade refresh it with: omnidesk-channels schema > {schema}
version: 1

# true: custom channels on the tenant that are not listed below get deleted.
prune: false

channels:
  # A channel's name is its identity: letters, digits, spaces, '.', '-' and '_'.
  # To rename one, change the name and list the old one under previous_names.
  - name: SMS gateway
    icon: phone
    # Where Omnidesk posts agents' replies. The API refuses '_', '%', '~', '#' and '+' here.
    custom_channel_endpoint: https://bridge.example.com/omnidesk/sms
    # To have Omnidesk sign the replies it posts, give the channel a secret and set
    # include_signature: true. Never write a secret into this file: name an environment
    # variable that holds it (apply refuses to create the channel while it is unset):
    #   custom_channel_secret: ${{env:SMS_BRIDGE_SECRET}}
    # and raise secret_version (1, then 2, ...) to send a new secret on the next apply:
    #   secret_version: 1
    include_signature: false
    custom_channel_warning_en: Replies over 160 characters are sent as several messages.
    custom_channel_warning_nl: Antwoorden van meer dan 160 tekens worden in delen verstuurd.
"""


def starter_text(schema: str = SCHEMA_FILE) -> str:
    """The starter channels file: valid as it is, with its modeline first."""
    return modeline(schema) + STARTER.format(schema=schema)


@dataclass(frozen=True)
class Written:
    channels_file: Path
    schema_file: Path


def write_starter(folder: str | os.PathLike[str], *, force: bool = False) -> Written:
    """Write ``channels.yaml`` and the schema into ``folder`` (made if missing).

    Without ``force`` an existing file is never replaced, and then nothing at all is written.
    """
    root = Path(folder)
    written = Written(root / CHANNELS_FILE, root / SCHEMA_FILE)
    targets = (written.channels_file, written.schema_file)
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise InitError(
            f"{' and '.join(existing)} already {verb}: nothing was written (pass {named('force')} to replace)",
            paths=existing,
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_atomically(written.schema_file, schema_text("channels"))
        write_atomically(written.channels_file, starter_text())
    except OSError as exc:
        where = exc.filename or str(root)
        raise InitError(f"cannot write {where}: {exc.strerror}", paths=[str(p) for p in targets]) from exc
    return written
