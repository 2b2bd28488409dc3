"""Conversations: several turns, at one place, ending on goodbye, a cap, or silence."""

from __future__ import annotations

from agents.conversation import ConversationBook


def test_a_reply_continues_the_same_conversation() -> None:
    book = ConversationBook(max_turns=6)
    c1, ended1 = book.record(1, speaker=1, target=2, place="market", text="Hi Bruno, bread for sale?")
    c2, ended2 = book.record(2, speaker=2, target=1, place="market", text="Yes, 3 coins each.")
    assert c1.id == c2.id
    assert (ended1, ended2) == (False, False)
    assert c2.turns == [(1, "Hi Bruno, bread for sale?"), (2, "Yes, 3 coins each.")]


def test_goodbye_ends_the_conversation() -> None:
    book = ConversationBook(max_turns=6)
    book.record(1, 1, 2, "market", "Hello")
    conv, ended = book.record(2, 2, 1, "market", "Thanks, goodbye!")
    assert ended and conv.ended
    assert book.active == []


def test_the_turn_cap_ends_the_conversation() -> None:
    book = ConversationBook(max_turns=3)
    ends = [book.record(t, 1 + t % 2, 2 - t % 2, "plaza", f"turn {t}")[1] for t in range(3)]
    assert ends == [False, False, True]


def test_a_third_avatar_at_the_place_joins() -> None:
    book = ConversationBook()
    book.record(1, 1, 2, "plaza", "Hi")
    conv, _ = book.record(2, 3, 1, "plaza", "Can I join?")
    assert conv.participants == [1, 2, 3]


def test_the_same_pair_elsewhere_is_another_conversation() -> None:
    book = ConversationBook()
    a, _ = book.record(1, 1, 2, "plaza", "Hi")
    b, _ = book.record(1, 1, 2, "market", "Hi again")
    assert a.id != b.id


def test_silence_ends_a_conversation() -> None:
    book = ConversationBook(idle_ticks=3)
    book.record(1, 1, 2, "plaza", "Hi")
    assert book.expire(3) == []
    assert [c.id for c in book.expire(4)] == [1]


def test_summary_names_the_others_and_the_turns() -> None:
    book = ConversationBook()
    conv, _ = book.record(3, 1, 2, "plaza", "Do you have wood?")
    book.record(4, 2, 1, "plaza", "Bye")
    text = conv.summary({1: "Ada", 2: "Bruno"}, me=1)
    assert text == "Talked with Bruno at plaza (ticks 3-4): Ada: Do you have wood? | Bruno: Bye"


def test_state_round_trip_keeps_active_conversations() -> None:
    book = ConversationBook()
    book.record(1, 1, 2, "plaza", "Hi")
    clone = ConversationBook()
    clone.set_state(book.get_state())
    conv, _ = clone.record(2, 2, 1, "plaza", "Hello")
    assert conv.id == 1 and len(conv.turns) == 2
    new, _ = clone.record(2, 5, 6, "farm", "Hey")
    assert new.id == 2
