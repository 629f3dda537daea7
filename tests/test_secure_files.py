"""Files the tool writes: atomic, unpredictable temp names, modes kept or private, clear errors.

Through the CLI: plans (``plan --out``), exports (``export --out``) and the emulator's state
(``--emulator`` runs and the ``emulator --state`` server).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from clihelp import RunningEmulator, run_cli

from reconciler.errors import FileWriteError
from reconciler.files import write_atomically

CHANNELS = """\
version: 1
channels:
  - name: SMS gateway
    icon: sms
    custom_channel_endpoint: https://sms.example.com/hook
    custom_channel_secret: ${env:SMS_SECRET}
"""
SECRET = "files-canary-secret"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def emulator_args(state: Path) -> list[str]:
    """The options that run the embedded emulator on ``state`` (``--emulator-state`` once it exists)."""
    if "--emulator-state" in run_cli(["plan", "--help"]).stdout:
        return ["--emulator-state", str(state)]
    return ["--emulator", str(state)]


@pytest.fixture
def channels(tmp_path: Path) -> Path:
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS)
    return path


def env_for(emulator: RunningEmulator) -> dict[str, str]:
    return {"OMNIDESK_URL": emulator.url, "OMNIDESK_API_KEY": emulator.key, "SMS_SECRET": SECRET}


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_a_new_plan_and_export_get_0644_minus_the_umask(
    tmp_path: Path, channels: Path, emulator: RunningEmulator, mask: int, expected: int
) -> None:
    with umask(mask):
        assert run_cli(["plan", str(channels), "--out", str(tmp_path / "plan.json")], env_for(emulator)).exit_code == 0
        assert run_cli(["export", "--out", str(tmp_path / "export.yaml")], env_for(emulator)).exit_code == 0
    assert mode(tmp_path / "plan.json") == expected and mode(tmp_path / "export.yaml") == expected


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, channels: Path, emulator: RunningEmulator) -> None:
    plan_file, export_file = tmp_path / "plan.json", tmp_path / "export.yaml"
    for path in (plan_file, export_file):
        path.write_text("old\n")
        path.chmod(0o640)
    with umask(0o022):  # would give 0644 to a new file; --force: "old" is neither a plan nor an export
        assert run_cli(["plan", str(channels), "--out", str(plan_file), "--force"], env_for(emulator)).exit_code == 0
        assert run_cli(["export", "--out", str(export_file), "--force"], env_for(emulator)).exit_code == 0
    assert mode(plan_file) == 0o640 and mode(export_file) == 0o640
    assert '"kind": "omnidesk-channels-plan"' in plan_file.read_text() and "SMS gateway" not in export_file.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["channels.yaml", "export.yaml", "plan.json"], "no temp left"


def test_a_symlink_at_the_old_predictable_temp_name_is_not_followed(
    tmp_path: Path, channels: Path, emulator: RunningEmulator
) -> None:
    """Before, '.plan.json.tmp' beside the output was opened for writing, symlink or not."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    planted = [tmp_path / ".plan.json.tmp", tmp_path / ".export.yaml.tmp", tmp_path / "state.json.tmp"]
    for link in planted:
        link.symlink_to(victim)
    env = {**env_for(emulator), "OMNIDESK_URL": ""}
    assert (
        run_cli(["plan", str(channels), "--out", str(tmp_path / "plan.json"), "--url", emulator.url], env).exit_code
        == 0
    )
    assert run_cli(["export", "--out", str(tmp_path / "export.yaml"), "--url", emulator.url], env).exit_code == 0
    applied = run_cli(["apply", str(channels), "--yes", *emulator_args(tmp_path / "state.json")], env)
    assert applied.exit_code == 0, applied.output
    assert victim.read_text() == "precious\n"
    assert all(link.is_symlink() and os.readlink(link) == str(victim) for link in planted)
    assert (tmp_path / "plan.json").read_text().startswith("{") and (tmp_path / "state.json").stat().st_size > 0


def test_emulator_state_and_journal_are_private(tmp_path: Path, channels: Path) -> None:
    state = tmp_path / "state.json"
    with umask(0o000):  # the loosest umask: still 0600
        result = run_cli(["apply", str(channels), "--yes", *emulator_args(state)], {"SMS_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    journal, lock = tmp_path / "state.json.journal", tmp_path / "state.json.lock"
    assert SECRET in state.read_text()  # the emulator keeps secrets, as a tenant does: hence 0600
    assert (mode(state), mode(journal), mode(lock)) == (0o600, 0o600, 0o600)


def test_an_older_world_readable_state_becomes_private(tmp_path: Path, channels: Path) -> None:
    state = tmp_path / "state.json"
    assert run_cli(["plan", str(channels), *emulator_args(state)], {"SMS_SECRET": SECRET}).exit_code == 0
    journal = tmp_path / "state.json.journal"
    state.chmod(0o644)
    journal.chmod(0o644)
    assert run_cli(["apply", str(channels), "--yes", *emulator_args(state)], {"SMS_SECRET": SECRET}).exit_code == 0
    assert (mode(state), mode(journal)) == (0o600, 0o600)


def test_a_missing_folder_is_a_clear_error(tmp_path: Path, channels: Path, emulator: RunningEmulator) -> None:
    missing = tmp_path / "no-such-folder"
    plan = run_cli(["plan", str(channels), "--out", str(missing / "plan.json")], env_for(emulator))
    assert plan.exit_code == 1
    assert plan.stderr.endswith(f"Error: the folder {missing} does not exist: create it or choose another --out\n")
    export = run_cli(["export", "--out", str(missing / "export.yaml")], env_for(emulator))
    assert export.exit_code == 1
    assert export.stderr == f"Error: the folder {missing} does not exist: create it or choose another --out\n"
    state = run_cli(["plan", str(channels), *emulator_args(missing / "state.json")], {"SMS_SECRET": SECRET})
    assert state.exit_code == 1
    assert state.stderr == (f"Error: the folder {missing} does not exist: create it or choose another state file\n")
    assert not missing.exists()


def test_a_folder_that_takes_no_file_is_an_error_not_a_traceback(channels: Path, emulator: RunningEmulator) -> None:
    # /proc/self exists but no file can be created in it, not even by root.
    result = run_cli(["export", "--out", "/proc/self/export.yaml"], env_for(emulator))
    assert result.exit_code == 1 and result.stderr.startswith("Error: cannot write /proc/")
    assert "Traceback" not in result.output


def test_the_writer_refuses_a_directory_and_leaves_no_temp(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileWriteError, match=r"cannot write .*taken"):
        write_atomically(tmp_path / "taken", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_a_symlinked_output_is_written_through_with_its_targets_mode(tmp_path: Path) -> None:
    """A channels file kept elsewhere and linked in (import edits it in place) stays a link."""
    real = tmp_path / "shared" / "channels.yaml"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "channels.yaml"
    link.symlink_to(real)
    write_atomically(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n" and mode(real) == 0o640


def test_a_symlink_planted_at_the_journal_or_lock_is_refused_not_followed(tmp_path: Path, channels: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for planted in ("state.json.journal", "state.json.lock"):
        link = tmp_path / planted
        link.unlink(missing_ok=True)  # the lock file the journal round left behind
        link.symlink_to(victim)
        result = run_cli(["plan", str(channels), *emulator_args(tmp_path / "state.json")], {"SMS_SECRET": SECRET})
        assert result.exit_code == 1 and result.stderr.startswith("Error: ") and planted in result.stderr
        assert "is a symbolic link, which is never followed: remove it" in result.stderr
        assert "Traceback" not in result.output and victim.read_text() == "precious\n" and mode(victim) == 0o644
        link.unlink()
