"""``validate``: a channels file checked offline (no call), for one tenant or for every tenant and none.

``Validation`` is part of ``Workflow`` (it inherits it); it reads only the file and, unless
``offline``, the environment, so ``validate`` loads no HTTP, plan or write module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.config import load_all_views, load_channels_file
from reconciler.filekinds import require_input
from reconciler.policy import findings
from reconciler.results import Validated

SHOWN_TENANTS = 10  # the summary names this many tenants, then counts the rest


class Validation:
    """The file side of ``Workflow``: ``environ`` is the workflow's."""

    environ: Mapping[str, str]

    def validate(self, path: str | os.PathLike[str], *, tenant: str | None = None, offline: bool = False) -> Validated:
        """Check the file offline (no call): for ``tenant``, else for every tenant and for none.
        Raises ``ConfigError`` listing every problem (and its warnings). ``offline``: read no
        environment variable (an unset ``${env:...}`` is no error; for pre-commit hooks)."""
        shown = os.fspath(path)
        if tenant is not None:
            require_input(path)
            loaded = load_channels_file(path, tenant=tenant, environ=self.environ, offline=offline)
            return Validated(
                f"{shown}: valid for tenant {tenant} ({_count(len(loaded.channels))})",
                tuple(loaded.warnings),
                tuple(findings(loaded)),
            )
        require_input(path)
        views = load_all_views(path, environ=self.environ, offline=offline)
        # Each channel entry has its own line, so lines count the file's channels across all views.
        count = len({channel.line for view in views.values() for channel in view.channels})
        tenants = next(iter(views.values())).tenants
        names = list(tenants)  # an agency's hundreds of tenant files: ten named, the rest counted
        more = f" and {len(names) - SHOWN_TENANTS:,} more" if len(names) > SHOWN_TENANTS else ""
        suffix = f"; tenants: {', '.join(names[:SHOWN_TENANTS])}{more}" if names else ""
        warnings = dict.fromkeys(w for view in views.values() for w in view.warnings)
        found = dict.fromkeys(f for view in views.values() for f in findings(view))
        return Validated(f"{shown}: valid ({_count(count)}{suffix})", tuple(warnings), tuple(found))


def _count(n: int) -> str:
    return f"{n} channel" if n == 1 else f"{n} channels"
