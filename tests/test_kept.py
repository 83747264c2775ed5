"""streamer.media.kept: values made once per key, the least recently used let go beyond the size."""

from __future__ import annotations

import pytest

from streamer.media.kept import Kept


def test_a_value_is_made_once_and_none_is_an_answer_too() -> None:
    made: list[str] = []
    kept: Kept[int | None] = Kept(4)

    def make(key: str, value: int | None) -> int | None:
        made.append(key)
        return value

    assert kept.get("a", lambda: make("a", 1)) == 1
    assert kept.get("a", lambda: make("a", 2)) == 1
    assert kept.get("b", lambda: make("b", None)) is None
    assert kept.get("b", lambda: make("b", 3)) is None
    assert made == ["a", "b"]


def test_the_least_recently_used_goes_first() -> None:
    kept: Kept[str] = Kept(2)
    kept.get(1, lambda: "one")
    kept.get(2, lambda: "two")
    kept.get(1, lambda: "again")  # 1 used last: 2 is the least recently used
    kept.get(3, lambda: "three")
    assert len(kept) == 2
    assert kept.get(1, lambda: "made") == "one" and kept.get(2, lambda: "made") == "made"


def test_a_failed_make_keeps_nothing() -> None:
    kept: Kept[int] = Kept(2)

    def fail() -> int:
        raise OSError("unreadable")

    with pytest.raises(OSError):
        kept.get("a", fail)
    assert len(kept) == 0 and kept.get("a", lambda: 5) == 5


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Kept(0)
