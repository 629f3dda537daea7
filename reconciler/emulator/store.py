"""The emulator's tenant state, optionally persisted as a snapshot plus an append-only journal.

On disk, for ``state_path = FILE``:

``FILE`` (the snapshot), one JSON object, always replaced atomically (temp file, fsync, rename,
fsync of the directory), so it is either the old or the new version, never a torn one::

    {"format": "omnidesk-emulator-state", "version": 1,
     "seq": 41,                       # the last journal record folded into this snapshot
     "next_id": 14, "next_ticket_id": 3, "next_message_id": 7,
     "channels": [{"id": 1, "type": "email", "name": "Email", ..., "custom_channel_secret": ""}],
     "tickets": [{"ticketID": 1, "channelID": 13, "title": "",
                  "messages": [{"messageID": 1, "message": "hi", "userID": 0,
                                "fromAddress": "", "toAddress": ""}]}]}

``FILE.journal``, one JSON object per line, appended and fsynced before the answer is sent::

    {"seq": 42, "op": "channel", "channel": {...every field, secret included...}}   # create or update
    {"seq": 43, "op": "delete", "id": 13}
    {"seq": 44, "op": "message", "ticket": {"ticketID": 2, "channelID": 13, "title": ""},
     "message": {"messageID": 7, ...}}

Loading reads the snapshot, replays the journal records whose ``seq`` is above the snapshot's (a
record already folded in by a compaction that crashed before truncating the journal is skipped),
ignores a torn last line (a kill in the middle of an append), then compacts: writes a new snapshot
and empties the journal. Records carry whole values, never deltas, so replay is exact. The journal
is also compacted when it outgrows the snapshot (and at least 1 MiB), which keeps the I/O of N
writes linear in N instead of rewriting the whole tenant per request.

Both files hold the channels' secrets, so both are 0600. ``FILE.lock`` (0600, left in place) is
held with ``flock`` while a Store is open: a second emulator, or an ``--emulator`` run of the CLI,
on the same state refuses to start instead of losing writes the first one acknowledged.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reconciler.errors import StateFileError
from reconciler.files import fsync_folder, open_private_append, os_error_text, write_atomically

FORMAT = "omnidesk-emulator-state"
VERSION = 1
# Below this size a journal is never compacted: rewriting a small snapshot often would be waste.
MIN_COMPACT_BYTES = 1 << 20

BUILT_IN_CHANNELS: tuple[tuple[str, str], ...] = (
    ("email", "Email"),
    ("chat", "Chat"),
    ("phone", "Phone"),
    ("whatsapp", "WhatsApp"),
    ("facebook", "Facebook"),
)


def _built_in(channel_id: int, type_: str, name: str) -> dict[str, Any]:
    return {
        "id": channel_id,
        "type": type_,
        "name": name,
        "icon": type_,
        "custom_channel_endpoint": "",
        "custom_channel_secret": "",
        "custom_channel_warning_en": "",
        "custom_channel_warning_nl": "",
        "include_signature": False,
        "custom_channel_available_in_quick_ticket": False,
    }


class Store:
    """Channels and tickets in memory; every change goes through a journaled method.

    Not thread-safe on its own: the Emulator holds its lock around every call.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.channels: dict[int, dict[str, Any]] = {}  # insertion order is id order
        self.names: dict[str, int] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.next_id = 1
        self.next_ticket_id = 1
        self.next_message_id = 1
        self.seq = 0
        self._journal: Any = None
        self._journal_bytes = 0
        self._snapshot_bytes = 0
        self._lock_file: Any = None  # a file object, so even a Store never closed lets go when collected
        if self.path is not None:
            self._lock()
        try:
            if self.path is not None and self.path.exists():
                self._load()
            else:
                for type_, name in BUILT_IN_CHANNELS:
                    self._apply_channel(_built_in(self.next_id, type_, name))
            if self.path is not None:
                self.compact()
        except BaseException:
            self._unlock()
            raise

    # -- changes (each is journaled first, then applied) --------------------------------------

    def put_channels(self, channels: Iterable[dict[str, Any]]) -> None:
        """Create or replace whole channels (ids must already be assigned)."""
        channels = [copy.deepcopy(c) for c in channels]
        self._journal_write([{"op": "channel", "channel": c} for c in channels])
        for channel in channels:
            self._apply_channel(channel)

    def delete_channel(self, channel_id: int) -> None:
        self._journal_write([{"op": "delete", "id": channel_id}])
        self._apply_delete(channel_id)

    def add_message(self, ticket: dict[str, Any], message: dict[str, Any]) -> None:
        """Append ``message`` to ``ticket`` (``ticketID``/``channelID``/``title``), opening it if new."""
        head = {k: ticket[k] for k in ("ticketID", "channelID", "title")}
        self._journal_write([{"op": "message", "ticket": head, "message": dict(message)}])
        self._apply_message(head, dict(message))

    def new_channel_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def new_ticket_id(self) -> int:
        self.next_ticket_id += 1
        return self.next_ticket_id - 1

    def new_message_id(self) -> int:
        self.next_message_id += 1
        return self.next_message_id - 1

    # -- in-memory application, shared by live changes and replay -----------------------------

    def _apply_channel(self, channel: dict[str, Any]) -> None:
        channel_id = int(channel["id"])
        old = self.channels.get(channel_id)
        if old is not None and self.names.get(old["name"]) == channel_id:
            del self.names[old["name"]]
        self.channels[channel_id] = channel
        self.names[channel["name"]] = channel_id
        self.next_id = max(self.next_id, channel_id + 1)

    def _apply_delete(self, channel_id: int) -> None:
        old = self.channels.pop(channel_id, None)
        if old is not None and self.names.get(old["name"]) == channel_id:
            del self.names[old["name"]]
        self.next_id = max(self.next_id, channel_id + 1)

    def _apply_message(self, head: dict[str, Any], message: dict[str, Any]) -> None:
        ticket = self.tickets.setdefault(int(head["ticketID"]), {**head, "messages": []})
        ticket["messages"].append(message)
        self.next_ticket_id = max(self.next_ticket_id, int(head["ticketID"]) + 1)
        self.next_message_id = max(self.next_message_id, int(message["messageID"]) + 1)

    # -- disk ---------------------------------------------------------------------------------

    @property
    def journal_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".journal")

    @property
    def lock_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".lock")

    def _lock(self) -> None:
        assert self.path is not None
        if not self.path.parent.is_dir():
            raise StateFileError(
                f"the folder {self.path.parent} does not exist: create it or choose another state file"
            )
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateFileError(
                f"cannot use the emulator state's lock {self.lock_path}: {os_error_text(exc)}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateFileError(
                f"the emulator state {self.path} is in use by another emulator or --emulator run "
                f"(it holds {self.lock_path.name}): stop that one first, or use another state file"
            ) from None
        self._lock_file = os.fdopen(fd, "r+b")

    def _unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the last descriptor releases the flock
            self._lock_file = None

    def _journal_write(self, records: list[dict[str, Any]]) -> None:
        if self.path is None:
            return
        if self._journal is None:
            raise RuntimeError(f"the emulator state {self.path} is closed")
        lines = []
        for record in records:
            self.seq += 1
            lines.append(json.dumps({"seq": self.seq, **record}, ensure_ascii=False) + "\n")
        data = "".join(lines).encode("utf-8")
        self._journal.write(data)
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._journal_bytes += len(data)
        if self._journal_bytes > max(MIN_COMPACT_BYTES, self._snapshot_bytes):
            self.compact()

    def _load(self) -> None:
        assert self.path is not None
        try:
            snap = json.loads(self.path.read_text(encoding="utf-8"))
            if snap.get("format") != FORMAT or snap.get("version") != VERSION:
                raise StateFileError(f"{self.path}: not an emulator state file (format/version)")
            for channel in snap["channels"]:
                self._apply_channel(channel)
            for ticket in snap["tickets"]:
                self.tickets[int(ticket["ticketID"])] = ticket
            self.next_id = max(self.next_id, int(snap["next_id"]))
            self.next_ticket_id = int(snap["next_ticket_id"])
            self.next_message_id = int(snap["next_message_id"])
            self.seq = int(snap["seq"])
        except OSError as exc:
            raise StateFileError(f"{self.path}: cannot read the emulator state: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateFileError(f"{self.path}: unreadable emulator state: {exc}") from exc
        if self.journal_path.exists():
            try:
                lines = self.journal_path.read_bytes().split(b"\n")
            except OSError as exc:
                raise StateFileError(f"{self.journal_path}: cannot read: {exc.strerror or exc}") from None
            self._replay(lines)

    def _replay(self, lines: list[bytes]) -> None:
        last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
        for number, line in enumerate(lines[: last + 1], start=1):
            try:
                record = json.loads(line)
                seq = int(record["seq"])
            except (ValueError, KeyError, TypeError):
                if number == last + 1:
                    return  # torn by a kill during the append: its answer was never sent
                raise StateFileError(f"{self.journal_path}:{number}: damaged journal line") from None
            if seq <= self.seq:
                continue
            if record["op"] == "channel":
                self._apply_channel(record["channel"])
            elif record["op"] == "delete":
                self._apply_delete(int(record["id"]))
            elif record["op"] == "message":
                self._apply_message(record["ticket"], record["message"])
            else:
                raise StateFileError(f"{self.journal_path}:{number}: unknown op {record['op']!r}")
            self.seq = seq

    def snapshot(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "seq": self.seq,
            "next_id": self.next_id,
            "next_ticket_id": self.next_ticket_id,
            "next_message_id": self.next_message_id,
            "channels": list(self.channels.values()),
            "tickets": list(self.tickets.values()),
        }

    def compact(self) -> None:
        """Write the snapshot atomically, then empty the journal (no-op without a path)."""
        if self.path is None:
            return
        data = json.dumps(self.snapshot(), ensure_ascii=False).encode("utf-8")
        write_atomically(self.path, data, private=True, option="state file")
        # Only now may the journal go: the snapshot's seq makes any leftover record a no-op.
        if self._journal is None:
            try:
                self._journal = os.fdopen(open_private_append(self.journal_path), "ab")
            except OSError as exc:
                raise StateFileError(
                    f"cannot open the emulator's journal {self.journal_path}: {os_error_text(exc)}"
                ) from None
            fsync_folder(self.path.parent)
        self._journal.truncate(0)
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._journal_bytes = 0
        self._snapshot_bytes = len(data)

    def flush(self) -> None:
        """Fold the journal into the snapshot (every write is already durable; this tidies)."""
        if self._journal is not None:
            self.compact()

    def close(self) -> None:
        """Fold the journal into the snapshot and release the files and the lock."""
        try:
            if self._journal is not None:
                self.compact()
                self._journal.close()
                self._journal = None
        finally:
            self._unlock()
