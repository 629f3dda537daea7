"""folding: one cause said once, names folded; different causes never folded together."""

from __future__ import annotations

from reconciler.errors import ApplyError
from reconciler.folding import cause, folded, grouped


def taken(name: str, holder: int) -> tuple[str, str]:
    return (
        name,
        f"POST /api/v2/channel: the server refused field 'name': name {name!r} is already used by channel {holder}",
    )


def test_a_cause_is_the_message_without_the_channel_name_and_numbers() -> None:
    assert cause(taken("Ch 1", 17)[1], "Ch 1") == cause(taken("Ch 250", 4031)[1], "Ch 250")
    refused_icon = "PUT /api/v2/channel/7: the server refused field 'icon': bad"
    refused_name = "PUT /api/v2/channel/8: the server refused field 'name': bad"
    assert cause(refused_icon, "A") != cause(refused_name, "B")


def test_names_are_folded_after_five() -> None:
    assert folded(["a", "b"]) == "'a', 'b'"
    assert folded([f"c{i}" for i in range(245)]) == "'c0', 'c1', 'c2', 'c3', 'c4' … and 240 more"


def test_a_few_of_one_cause_are_each_said_many_are_folded() -> None:
    few = [taken(f"Ch {i}", i) for i in range(3)]
    assert [(name, others) for name, _, others in grouped(few)] == [("Ch 0", []), ("Ch 1", []), ("Ch 2", [])]
    many = [taken(f"Ch {i}", i) for i in range(241)] + [("Other", "DELETE /api/v2/channel/9: not found")]
    assert [(name, len(others)) for name, _, others in grouped(many)] == [("Ch 0", 240), ("Other", 0)]


def test_the_final_error_says_a_repeated_cause_once() -> None:
    message = str(ApplyError([taken(f"Ch {i:03d}", i) for i in range(241)], 500))
    assert message.splitlines() == [
        "241 of 500 operations failed:",
        "  Ch 000: POST /api/v2/channel: the server refused field 'name': name 'Ch 000' is already used by channel 0",
        "  the same for 240 more: 'Ch 001', 'Ch 002', 'Ch 003', 'Ch 004', 'Ch 005' … and 235 more",
        "Nothing else was rolled back; run apply again to converge.",
    ]
