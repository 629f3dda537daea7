"""omnidesk-channels: Omnidesk custom channels as code."""
from __future__ import annotations

__version__ = "0.2.0"
