"""``validate``: a channels file checked offline (no call), for one tenant or for every tenant and none;
``probe``: its endpoints reached as Omnidesk would reach them (never the tenant).

``Validation`` is part of ``Workflow`` (it inherits it); ``validate`` reads only the file and, unless
``offline``, the environment, so it loads no HTTP, plan or write module (``probe`` loads its own).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.config import load_all_views, load_channels_file
from reconciler.filekinds import require_input
from reconciler.policy import findings
from reconciler.results import Probed, Validated

if TYPE_CHECKING:
    from reconciler.model import ChannelsFile

SHOWN_TENANTS = 10  # the summary names this many tenants, then counts the rest


class Validation:
    """The file side of ``Workflow``: ``environ``, ``parallelism`` and ``load`` are the workflow's."""

    environ: Mapping[str, str]
    parallelism: int

    if TYPE_CHECKING:

        def load(self, path: str | os.PathLike[str], *, tenant: str | None = None) -> ChannelsFile: ...

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

    def probe(
        self,
        path: str | os.PathLike[str],
        *,
        tenant: str | None = None,
        loaded: ChannelsFile | None = None,
        timeout: float | None = None,
    ) -> Probed:
        """Probe every endpoint of the file's view as Omnidesk would reach it; sends no secret, no message.
        ``timeout``: seconds for one endpoint, every step included (None: ``probe.DEFAULT_TIMEOUT``)."""
        from reconciler.probe import DEFAULT_TIMEOUT, probe_endpoints

        channels_file = loaded or self.load(path, tenant=tenant)
        users: dict[str, list[str]] = {}
        for channel in channels_file.channels:
            if channel.fields["custom_channel_endpoint"]:
                users.setdefault(channel.fields["custom_channel_endpoint"], []).append(channel.name)
        results = probe_endpoints(
            users, timeout=timeout or DEFAULT_TIMEOUT, parallelism=self.parallelism, environ=self.environ
        )
        verdicts = {endpoint: result.problem for endpoint, result in results.items()}
        return Probed(results, users, findings(channels_file, probes=verdicts))


def _count(n: int) -> str:
    return f"{n} channel" if n == 1 else f"{n} channels"
