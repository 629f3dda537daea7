"""Reading the channel list page by page, tolerant of every paging the contract allows.

A server may page as asked, cap ``itemLimit`` below what was asked, omit ``itemTotal``, or ignore
paging and send everything on every page. One pass (``read_pass``) handles each:

* the next page starts after the items actually received, never after the number asked for;
* with a total, the pass ends once that many distinct ids were read (more than the total, or pages
  that end before it, make the pass inconsistent); without one, at an empty page, a page shorter
  than the longest seen, or a page bringing no id not seen before;
* every page's total is compared with the FIRST page's (pages read concurrently arrive out of order,
  so comparing neighbours would take a growing list for a shrinking one);
* a list claiming more than ``MAX_CHANNELS`` is refused before any further page is asked for, and at
  most ``workers`` pages are in flight, ``WINDOW`` pages ahead of the one being checked.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from .errors import ProtocolError
from .model import CHANNEL_PATH, RemoteChannel
from .responses import ListPage

PAGE_SIZE = 99  # the contract's maximum itemLimit
MAX_CHANNELS = 100_000  # contract: a list claiming more is a broken or hostile server
WINDOW_PER_WORKER = 2  # pages requested ahead of the one being checked, per worker


def page_params(start: int) -> dict[str, str]:
    """The query parameters that ask for the page starting at ``start`` (the client adds the key's)."""
    return {"itemStart": str(start), "itemLimit": str(PAGE_SIZE)}


def page_path(start: int) -> str:
    """The page's call as messages name it: the path and the paging, never the key."""
    return f"{CHANNEL_PATH}?{urlencode(page_params(start))}"


def read_pass(
    fetch: Callable[[int], ListPage],
    parse: Callable[[Any, str, str], RemoteChannel],
    workers: int,
    *,
    growth_ok: bool,
) -> tuple[list[RemoteChannel], str]:
    """One pass over all pages: the channels, and what went wrong ("" if the pass is consistent).

    With ``growth_ok``, a total that only grew since the first page still counts as consistent: a
    channel added while the pages are read can shift others to a later page (read twice, deduplicated
    by id) but never to an earlier one, so no channel that existed before the pass is missed. Only a
    total that shrank (a delete) can hide one.
    """
    seen: dict[int, RemoteChannel] = {}
    first_total: int | None = None
    total: int | None = None
    capacity = 0  # the longest page so far: what a full page holds on this server
    start = 0
    prefetched: dict[int, ListPage] = {}
    pool: ThreadPoolExecutor | None = None
    try:
        while True:
            call = f"GET {page_path(start)}"
            page = prefetched.pop(start, None) or fetch(start)
            if page.total is not None:
                if page.total > MAX_CHANNELS:
                    raise _too_many(call, f"claims {page.total:,} channels")
                if first_total is None and not seen:
                    first_total = page.total
                elif first_total is not None and (
                    page.total < first_total or (page.total != first_total and not growth_ok)
                ):
                    return [], f"itemTotal moved from {first_total} to {page.total} between pages"
                total = page.total if total is None else max(total, page.total)
            items = page.items
            before = len(seen)
            for index, item in enumerate(items):
                channel = parse(item, call, f"items[{index}]")
                seen[channel.id] = channel
            if len(seen) > MAX_CHANNELS:
                raise _too_many(call, f"sent more than {MAX_CHANNELS:,} distinct channels")
            capacity = max(capacity, len(items))
            verdict = _end_of_pass(len(seen), len(seen) - before, len(items), capacity, total, start, growth_ok)
            if verdict is not None:
                return ([] if verdict else list(seen.values())), verdict
            # Advance by what was returned: a server may send more (or fewer) than asked.
            start += len(items)
            if total is not None and workers > 1 and start not in prefetched and len(items) == capacity:
                # The server pages evenly: ask for the next pages at once. They are checked in order
                # exactly as if read one by one; a page that does not line up is read again.
                if pool is None:
                    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="list-page")
                ahead = range(start, min(total, start + capacity * workers * WINDOW_PER_WORKER), capacity)
                prefetched = dict(zip(ahead, pool.map(fetch, ahead), strict=True))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _end_of_pass(
    read: int, new: int, page_size: int, capacity: int, total: int | None, start: int, growth_ok: bool
) -> str | None:
    """After a page: None to read on, "" when the pass is complete, else what makes it inconsistent."""
    if total is not None and read > total:
        # The count read must equal the total: a list longer than it claims may have hidden more
        # (a pass ends once the total is reached).
        return f"{read} distinct channels were read, more than its itemTotal of {total}"
    if total is not None and (read == total or (growth_ok and not page_size and start >= total)):
        return ""
    if not page_size or not new:
        # An empty page, or one with nothing new (a server ignoring itemStart).
        return "" if total is None else f"the pages ended after {read} of {total} channels"
    if total is None and page_size < capacity:
        return ""  # a short page ends a list without a total
    return None


def _too_many(call: str, what: str) -> ProtocolError:
    return ProtocolError(
        f"the channel list {what}; this tool reads at most {MAX_CHANNELS:,} (a broken or hostile server?)",
        call=call,
    )
