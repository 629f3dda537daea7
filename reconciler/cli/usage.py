"""Unknown options answered safely: a "dry run" flag points at ``plan``, and a guess never names a flag
that deletes, sends secrets or skips the question.

click answers an unknown option with its closest known one; on ``apply --dry-run`` that was
``--prune``, the one flag that deletes. A user who typed a "change nothing" flag is told that
``plan`` is the dry run; any other guess that would be destructive is dropped.
"""

from __future__ import annotations

import click

# What other tools call "change nothing": Terraform's plan, Ansible's --check, Puppet's --noop,
# PowerShell's -WhatIf, make -n's --dry-run.
DRY_RUN_FLAGS = frozenset(
    {"--dry-run", "--dryrun", "--dry_run", "--noop", "--no-op", "--check", "--what-if", "--whatif", "--simulate"}
)
# Never offered as a guess: each deletes, overwrites secrets or files, or applies without asking.
DESTRUCTIVE_FLAGS = frozenset({"--prune", "--rotate-secrets", "--yes", "-y", "--force"})

DRY_RUN_ANSWER = "plan is the dry run: omnidesk-channels plan FILE"


def answer_unknown_option(exc: click.NoSuchOption) -> click.UsageError:
    """The error to show for ``exc``: the dry-run answer, or click's with destructive guesses dropped."""
    if exc.option_name.lower() in DRY_RUN_FLAGS:
        return click.UsageError(
            f"No such option {exc.option_name!r}: {DRY_RUN_ANSWER} (it reads the tenant and changes nothing; "
            "apply shows the same plan and asks before it changes anything).",
            exc.ctx,
        )
    safe = [p for p in exc.possibilities or () if p not in DESTRUCTIVE_FLAGS]
    # The guesses were already chosen from the command's options; pass them as the only candidates.
    return click.NoSuchOption(exc.option_name, possibilities=safe, ctx=exc.ctx)
