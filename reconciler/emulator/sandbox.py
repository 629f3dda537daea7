"""The emulator's sandbox routes: the channel's other end, which Omnidesk's API does not have.

    GET  /                                        a page: channels, tickets, deliveries, a reply form
    POST /ui/reply, /ui/redeliver                 the page's forms (a per-process token; never when read-only)
    POST /api/v2/emulator/reply                   ticketID, message[, agent]: an agent replies (key needed)
    GET  /api/v2/emulator/deliveries[/ID]         the delivery log (``?wait=S``: until the delivery is done)
    POST /api/v2/emulator/deliveries/ID/redeliver send one again, same webhook-id

The page is served HTML with no script and no outside asset; it never shows a key or a secret. It is
read-only when the emulator listens beyond loopback (anyone who reaches it could reply as an agent).
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from reconciler.emulator.core import Emulator
from reconciler.emulator.forms import BodyError, parse_body
from reconciler.emulator.outbound import ASSUMED, Delivery

API = "/api/v2/emulator/"
MAX_WAIT = 30.0
Response = tuple[int, dict[str, str], bytes]
PAGE_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def is_sandbox_path(path: str) -> bool:
    return path == "/" or path.startswith("/ui/") or path.startswith(API)


class Sandbox:
    def __init__(self, emulator: Emulator, *, read_only: bool = False) -> None:
        self.emulator = emulator
        self.read_only = read_only
        self.form_token = secrets.token_urlsafe(16)

    def handle(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Response:
        if path == "/" and method in ("GET", "HEAD"):
            return 200, dict(PAGE_HEADERS), render_page(self.emulator, self.form_token, self.read_only).encode()
        if path.startswith("/ui/") and method == "POST":
            return self._form(path, headers, body)
        if path.startswith(API):
            permissions = self.emulator.permissions_of(headers, query)
            if permissions is None:
                return _error(401, "a known API key is required (the apiKey header or query parameter)")
            if method == "POST" and "MESSAGE_CREATE" not in permissions:
                return _error(403, "this API key lacks the MESSAGE_CREATE permission")
            return self._api(method, path[len(API) :], query, headers, body)
        return _error(405, f"{method} is not allowed on {path}")

    def _form(self, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        if self.read_only:
            return _error(403, "the page is read-only: the emulator listens beyond loopback")
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if not secrets.compare_digest(fields.get("token", ""), self.form_token):
            return _error(403, "the form is stale or from another page: reload the page")
        try:
            if path == "/ui/reply":
                delivery = self.emulator.agent_reply(
                    _number(fields, "ticket"),
                    fields.get("message", "").strip(),
                    agent=fields.get("agent", "").strip() or "Agent",
                )
            elif path == "/ui/redeliver":
                delivery = self.emulator.outbox.redeliver(_number(fields, "delivery"))
            else:
                return _error(404, f"no form at {path}")
        except (LookupError, ValueError) as exc:
            return _error(400, str(exc).strip("'\""))
        return 303, {"location": f"/#delivery-{delivery.id}"}, b""

    def _api(
        self, method: str, route: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Response:
        parts = route.strip("/").split("/")
        try:
            if method == "POST" and parts == ["reply"]:
                fields = parse_body(headers.get("content-type", ""), body)
                delivery = self.emulator.agent_reply(
                    _number(fields, "ticketID"),
                    str(fields.get("message", "")),
                    agent=str(fields.get("agent") or "Agent"),
                )
                return _item(delivery)
            if method == "GET" and parts == ["deliveries"]:
                items = [d.to_data() for d in self.emulator.outbox.all()]
                return _json(200, {"type": "list", "itemStart": 0, "itemTotal": len(items), "items": items})
            if len(parts) >= 2 and parts[0] == "deliveries":
                found = self.emulator.outbox.get(_number({"id": parts[1]}, "id"))
                if found is None:
                    return _error(404, f"no delivery {parts[1]}")
                if method == "POST" and parts[2:] == ["redeliver"]:
                    return _item(self.emulator.outbox.redeliver(found.id))
                if method == "GET" and len(parts) == 2:
                    found.done.wait(min(MAX_WAIT, _seconds(query.get("wait", "0"))))
                    return _item(found)
        except BodyError as exc:
            return _error(exc.status, str(exc))
        except (LookupError, ValueError) as exc:
            return _error(400, str(exc).strip("'\""))
        return _error(404, f"no sandbox call {method} {API}{route}")


def _number(fields: Mapping[str, Any], name: str) -> int:
    text = str(fields.get(name, "")).strip()
    if not text.isdigit() or len(text) > 12:
        raise ValueError(f"{name} must be a whole number, got {text[:20]!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        return max(0.0, float(text))
    except ValueError:
        return 0.0


def _json(status: int, data: Any) -> Response:
    return status, {"content-type": "application/json; charset=utf-8"}, json.dumps(data).encode()


def _item(delivery: Delivery) -> Response:
    return _json(200, {"type": "item", "item": delivery.to_data()})


def _error(status: int, message: str) -> Response:
    return _json(status, {"status": "error", "message": message})


# -- the page ----------------------------------------------------------------------------------------

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;color:#1d232a}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #dde;padding:.3rem .5rem;text-align:left;
vertical-align:top}th{background:#f3f4f8}.note{background:#fff8e0;border:1px solid #eed27a;padding:.5rem .8rem}
.delivered{color:#126b2a;font-weight:600}.failed,.not-sent{color:#a31515;font-weight:600}.pending{color:#8a6100}
code,pre{font:12px/1.4 ui-monospace,monospace}pre{white-space:pre-wrap;word-break:break-all;margin:.2rem 0}
.out{color:#1f4fa3}.in{color:#555}form.reply{display:grid;gap:.4rem;max-width:40rem}
"""


def render_page(emulator: Emulator, token: str, read_only: bool) -> str:
    e = html.escape
    channels = [c for c in emulator.channels() if c["type"] == "custom"]
    tickets = emulator.tickets()
    deliveries = emulator.outbox.all()
    rows = (
        "".join(
            f"<tr><td>{c['id']}</td><td>{e(c['name'])}</td><td><code>{e(c.get('custom_channel_endpoint') or '')}</code>"
            f"</td><td>{'on' if str(c.get('include_signature')).lower() in ('true', '1') else 'off'}</td></tr>"
            for c in channels
        )
        or "<tr><td colspan=4>No custom channels yet.</td></tr>"
    )
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Omnidesk emulator</title>",
        "<link rel=icon href='data:,'><meta name=viewport content='width=device-width'>",
        f"<style>{STYLE}</style></head><body><h1>Omnidesk emulator: the channel's other end</h1>",
        f"<p class=note><strong>Delivery scheme {e(ASSUMED)}.</strong> See the docs' sandbox page.</p>",
        "<h2>Custom channels</h2><table><tr><th>id</th><th>name</th><th>endpoint</th><th>signature</th></tr>",
        rows,
        "</table>",
        _tickets(tickets, token, read_only),
        _deliveries(deliveries, token, read_only),
        "</body></html>",
    ]
    return "".join(parts)


def _tickets(tickets: list[dict[str, Any]], token: str, read_only: bool) -> str:
    e = html.escape
    if not tickets:
        return "<h2>Tickets</h2><p>No tickets yet: push a message with <code>omnidesk-channels message send</code>.</p>"
    out = ["<h2>Tickets</h2>"]
    for ticket in tickets:
        out.append(
            f"<h3 id=ticket-{ticket['ticketID']}>Ticket {ticket['ticketID']} (channel {ticket['channelID']})"
            f"{': ' + e(ticket['title']) if ticket.get('title') else ''}</h3><ul>"
        )
        for m in ticket["messages"]:
            outbound = m.get("direction") == "outbound"
            who = (
                f"agent {e(m.get('sender', {}).get('name', ''))} → customer"
                if outbound
                else f"customer {e(m.get('fromAddress') or '')} → agents"
            )
            out.append(f"<li class={'out' if outbound else 'in'}>#{m['messageID']} {who}: {e(m['message'])}</li>")
        out.append("</ul>")
    if read_only:
        out.append("<p>Replies are off: this page is read-only (the emulator listens beyond loopback).</p>")
        return "".join(out)
    options = "".join(f"<option value={t['ticketID']}>Ticket {t['ticketID']}</option>" for t in tickets)
    out.append(
        "<form class=reply method=post action=/ui/reply><label>Reply as an agent on "
        f"<select name=ticket>{options}</select></label><input type=hidden name=token value={e(token)}>"
        "<label>Agent name <input name=agent value=Agent></label>"
        "<textarea name=message rows=3 required placeholder='Your reply'></textarea>"
        "<button type=submit>Send reply</button></form>"
    )
    return "".join(out)


def _deliveries(deliveries: list[Delivery], token: str, read_only: bool) -> str:
    e = html.escape
    if not deliveries:
        return "<h2>Deliveries</h2><p>None yet.</p>"
    out = ["<h2>Deliveries</h2><table><tr><th>#</th><th>message</th><th>to</th><th>state</th><th>attempts</th></tr>"]
    for d in reversed(deliveries):
        attempts = "".join(
            f"<pre>{a.number}: {a.status if a.status is not None else '-'} in {a.latency_ms:.0f} ms"
            f"{' — ' + e(a.error) if a.error else ''}\n"
            + "".join(f"{e(k)}: {e(v)}\n" for k, v in sorted(a.headers.items()))
            + "</pre>"
            for a in d.attempts
        )
        again = (
            ""
            if read_only or d.state == "pending"
            else (
                f"<form method=post action=/ui/redeliver><input type=hidden name=token value={e(token)}>"
                f"<input type=hidden name=delivery value={d.id}><button>Redeliver</button></form>"
            )
        )
        out.append(
            f"<tr id=delivery-{d.id}><td>{d.id}<br><code>{e(d.webhook_id)}</code></td>"
            f"<td>ticket {d.ticket_id}, message {d.message_id}<pre>{e(d.body.decode('utf-8', 'replace'))}</pre></td>"
            f"<td><code>{e(d.url)}</code><br>{'signed' if d.signed else 'unsigned'}</td>"
            f"<td class={d.state.replace(' ', '-')}>{e(d.state)}</td><td>{attempts}{again}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)
