"""Which API key a request carries, in which of the contract's three forms, and what it may do."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.emulator.routes import Refusal

# Where the key may come from. The contract's default accepts the header and the query form.
AUTH_MODES = ("header", "query", "authorization", "any")
AUTH_FORMS = ("header", "query", "authorization")
DEFAULT_AUTH_FORMS = ("header", "query")

_WORDING = {
    "header": "the apiKey header",
    "query": "the apiKey query parameter",
    "authorization": "the Authorization header (apikey KEY)",
}


def accepted_forms(auth: str | None) -> tuple[str, ...]:
    """The forms an emulator with this ``auth`` mode takes the key in."""
    if auth is None:
        return DEFAULT_AUTH_FORMS
    return AUTH_FORMS if auth == "any" else (auth,)


def authenticate(
    headers: Mapping[str, str],
    query: Mapping[str, str],
    accepted: tuple[str, ...],
    api_keys: Mapping[str, frozenset[str]],
) -> frozenset[str]:
    """The permissions of the key the request carries (``headers`` lower-cased); 401 otherwise."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    sent = {
        "header": headers.get("apikey", ""),
        "query": query.get("apiKey", ""),
        "authorization": credentials.strip() if scheme.lower() == "apikey" else "",
    }
    key = next((sent[form] for form in accepted if sent[form]), "")
    if not key:
        wanted = " or ".join(_WORDING[form] for form in accepted)
        elsewhere = [form for form in AUTH_FORMS if sent[form] and form not in accepted]
        if elsewhere:
            raise Refusal(401, f"this server takes the API key in {wanted}, not in {_WORDING[elsewhere[0]]}")
        raise Refusal(401, f"missing API key: send it in {wanted}")
    perms = api_keys.get(key)
    if perms is None:
        raise Refusal(401, "unknown API key")  # never echo the key: it ends up in logs
    return perms
