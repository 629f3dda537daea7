"""The channels file: its loaders (``loader``), one tenant's view of it (``views``), its problems in
words (``messages``).

The public names are the loaders; everything else is the package's own.
"""

from __future__ import annotations

from reconciler.config.loader import (
    load_all_views,
    load_channels_file,
    load_settings,
    load_tenant_share,
    load_tenants,
)
from reconciler.yamlread import MAX_FILE_BYTES
from reconciler.yamlshow import format_path

__all__ = [
    "MAX_FILE_BYTES",
    "format_path",
    "load_all_views",
    "load_channels_file",
    "load_settings",
    "load_tenant_share",
    "load_tenants",
]
