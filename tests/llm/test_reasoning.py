"""The <think> splitter: tags cut at every position, in every chunking."""

from __future__ import annotations

import itertools

import pytest

from harvis.llm.reasoning import ThinkSplitter

TEXT = "<think>Let me think: 2+2.</think>\n\nThe answer is 4 <b>bold</b> <thinking> stays."


def run(chunks: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    content, reasoning = [], []
    for chunk in chunks:
        c, r = splitter.feed(chunk)
        content.append(c)
        reasoning.append(r)
    c, r = splitter.flush()
    return "".join(content) + c, "".join(reasoning) + r


EXPECTED = ("The answer is 4 <b>bold</b> <thinking> stays.", "Let me think: 2+2.")


@pytest.mark.parametrize("cut", range(len(TEXT) + 1))
def test_one_cut_anywhere(cut: int) -> None:
    assert run([TEXT[:cut], TEXT[cut:]]) == EXPECTED


def test_every_pair_of_cuts_around_both_tags() -> None:
    # All two-cut splits inside a window spanning each tag (3 chunks each time).
    windows = [range(0, 10), range(22, 36)]
    for window in windows:
        for a, b in itertools.combinations(window, 2):
            assert run([TEXT[:a], TEXT[a:b], TEXT[b:]]) == EXPECTED, (a, b)


def test_one_character_at_a_time() -> None:
    assert run(list(TEXT)) == EXPECTED


def test_held_back_text_is_released_as_soon_as_it_cannot_be_a_tag() -> None:
    s = ThinkSplitter()
    assert s.feed("a <th") == ("a ", "")
    assert s.feed("at") == ("<that", "")


def test_no_tags_pass_through_unchanged_and_at_once() -> None:
    s = ThinkSplitter()
    assert s.feed("Hello <") == ("Hello ", "")
    assert s.feed("3 world") == ("<3 world", "")
    assert s.flush() == ("", "")


def test_unclosed_reasoning_stays_reasoning_and_a_dangling_partial_tag_is_flushed() -> None:
    assert run(["<think>still going </thi"]) == ("", "still going </thi")
    assert run(["answer <thi"]) == ("answer <thi", "")


def test_second_think_block_is_reasoning_too() -> None:
    assert run(["<think>a</think>x<think>b</think>y"]) == ("xy", "ab")
