"""The channels file both sharded pipeline examples are tested with (GitHub's matrix, GitLab's ``parallel:``).

Five tenants from tenant files (``tenants/``), each shard of 4 holding at least one; ``SMS`` is the
channel a merge adds, its secret from the environment.
"""

from __future__ import annotations

TENANTS = ["rose", "tulip", "lily", "iris", "daisy"]
BASE = """\
version: 1
tenants: tenants/
channels:
  - name: Web chat bridge
    icon: chat
    custom_channel_endpoint: https://bridge.example.com/chat
"""
SMS = """\
  - name: SMS gateway
    icon: phone
    custom_channel_endpoint: https://bridge.example.com/sms
    custom_channel_secret: ${env:SMS_BRIDGE_SECRET}
"""


def key_env(tenant: str) -> str:
    """The variable holding a tenant's key, as the examples' tenant files name it."""
    return f"OMNIDESK_{tenant.upper()}_KEY"
