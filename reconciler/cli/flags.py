"""The CLI's names for the engine's parameters: the engine's messages speak of ``tenant``,
``source``, ``allow_deletes``; on the command line they read ``--tenant``, ``--from``,
``--allow-deletes`` (``reconciler.wording``)."""

from __future__ import annotations

FLAGS = {
    "tenant": "--tenant",
    "url": "--url",
    "local_state": "--emulator",
    "local_state_path": "--emulator-state",
    "auth": "--auth",
    "source": "--from",
    "dest": "--to",
    "out": "--out",
    "force": "--force",
    "update": "--update",
    "allow_policy": "--allow-policy",
    "allow_deletes": "--allow-deletes",
    "allow_updates": "--allow-updates",
    "shard": "--shard",
    "rotate_secrets": "--rotate-secrets",
    "secret_versions": "--secret-versions",
    "all_tenants": "--all-tenants",
    "save_plan": "omnidesk-channels plan --out",  # what writes a saved plan
    "save_plan_short": "plan --out",
    "json_plan": "plan --format json",
    "only": "--only",
    "exclude": "--exclude",
    "save_plan_command": "omnidesk-channels plan FILE --out plan.json",  # how a plan to apply is saved
}
