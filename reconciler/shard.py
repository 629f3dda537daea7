"""``--shard K/N``: one of N CI jobs takes its share of the tenants, each tenant in exactly one shard.

A tenant's shard depends on its name only: SHA-256 of the name, then Lamping and Veach's jump
consistent hash ("A Fast, Minimal Memory, Consistent Hash Algorithm", 2014) onto N buckets.
Hence it is the same on every runner and in every run, whatever the order of the files or of the
``tenants:`` section, and adding or removing a tenant moves no other tenant (a sorted index mod N
would shift every tenant after it into another shard, and with it the drift-after state and the
artifacts each shard job keeps). Growing N to N+1 moves only the 1/(N+1) of tenants the new shard
takes. The price is balance: shards are even only on average (1,000 tenants over 4: about 250
each, give or take 15), and a shard may be empty when there are few tenants.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

_FORM = re.compile(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*")
_MASK = (1 << 64) - 1
_JUMP = 2862933555777941757  # the linear congruential step of the jump hash


def jump_hash(key: int, buckets: int) -> int:
    """The bucket (0 .. ``buckets``-1) of a 64-bit ``key``; consistent as ``buckets`` grows."""
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * _JUMP + 1) & _MASK
        jump = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based, as GitLab's CI_NODE_INDEX) of ``total``."""

    index: int
    total: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"`` -> ``Shard(2, 4)``; ``ValueError`` with the words a usage error shows."""
        form = _FORM.fullmatch(text)
        if form is None:
            raise ValueError(
                f"{text!r} is not K/N: write the shard's number and the number of shards, e.g. 2/4 "
                "(GitLab: $CI_NODE_INDEX/$CI_NODE_TOTAL)"
            )
        index, total = int(form.group(1)), int(form.group(2))
        if total < 1 or not 1 <= index <= total:
            raise ValueError(
                f"{text!r}: K must be from 1 to N and N at least 1 (shards are counted from 1, e.g. 1/4 to 4/4)"
            )
        return cls(index, total)

    def holds(self, tenant: str) -> bool:
        key = int.from_bytes(hashlib.sha256(tenant.encode("utf-8")).digest()[:8], "big")
        return jump_hash(key, self.total) == self.index - 1

    def pick(self, tenants: Sequence[str]) -> list[str]:
        """The tenants of this shard, in the order given."""
        return [t for t in tenants if self.holds(t)]

    def describe(self, count: int) -> str:
        """``shard 2 of 4: 251 tenants``: what a sharded run says first."""
        return f"shard {self.index} of {self.total}: {count} tenant{'' if count == 1 else 's'}"
