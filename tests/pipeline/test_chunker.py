"""The clause chunker: boundaries confirmed by the next character, minimum length, maximum wait."""

from __future__ import annotations

from harvis.pipeline.chunker import ClauseChunker, speakable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(chunker: ClauseChunker, pieces: list[str]) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        out += chunker.aggregate(piece)
    return out


def test_sentences_are_cut_at_their_end() -> None:
    c = ClauseChunker(min_chars=5)
    assert feed(c, ["Hello there. ", "How are ", "you today? Fine"]) == ["Hello there.", "How are you today?"]
    assert c.flush() == "Fine"
    assert c.flush() is None


def test_a_period_is_held_until_the_next_character_shows_what_it_is() -> None:
    c = ClauseChunker(min_chars=5)
    assert c.aggregate("Pi is about 3.") == []
    assert c.aggregate("14 and e is about 2.") == []
    assert c.aggregate("71") == []
    assert c.aggregate(". Next") == ["Pi is about 3.14 and e is about 2.71."]


def test_abbreviations_list_numbers_and_decimals_do_not_end_a_clause() -> None:
    c = ClauseChunker(min_chars=5)
    text = "Dr. Smith met Mr. Jones, e.g. at noon. Then:\n1. Eat lunch\n2. Walk home\n"
    out = feed(c, list(text))
    assert out == ["Dr. Smith met Mr. Jones, e.g. at noon.", "Then:", "Eat lunch", "Walk home"]


def test_short_sentences_wait_to_join_the_next() -> None:
    c = ClauseChunker(min_chars=24)
    assert feed(c, ["Yes. ", "No. ", "It is what it is. ", "Ok"]) == ["Yes. No. It is what it is."]
    assert c.flush() == "Ok"


def test_long_clauses_are_cut_at_a_comma_short_ones_are_not() -> None:
    c = ClauseChunker(min_chars=10, weak_min_chars=30)
    assert feed(c, ["Well, ", "if you think about it for a while, ", "it works"]) == [
        "Well, if you think about it for a while,"
    ]


def test_question_and_exclamation_marks_with_closing_quotes() -> None:
    c = ClauseChunker(min_chars=5)
    assert feed(c, ['He said "stop it!" ', "and left?! Ok"]) == ['He said "stop it!"', "and left?!"]


def test_max_wait_releases_text_at_a_word_boundary() -> None:
    clock = Clock()
    c = ClauseChunker(min_chars=10, max_wait_s=1.0, clock=clock)
    assert c.aggregate("this answer has no punctuation at al") == []
    assert c.due() is None  # not yet due
    assert c.seconds_until_due() == 1.0
    clock.now += 1.0
    assert c.due() == "this answer has no punctuation at"
    assert c.pending == "al"
    assert c.due() is None  # too short to release, and the wait restarted
    assert c.flush() == "al"


def test_max_wait_does_not_release_too_little_text() -> None:
    clock = Clock()
    c = ClauseChunker(min_chars=20, max_wait_s=0.5, clock=clock)
    c.aggregate("Just a bit")
    clock.now += 5
    assert c.due() is None


def test_reset_forgets_everything() -> None:
    c = ClauseChunker(min_chars=5)
    c.aggregate("Half a sentence that was")
    c.reset()
    assert c.pending == "" and c.seconds_until_due() is None
    assert feed(c, ["New start. ", "x"]) == ["New start."]


def test_markdown_is_not_read_aloud() -> None:
    assert (
        speakable("**Bold** and `code`\n# Title\n- item one\n* item two")
        == "Bold and code Title item one item two"
    )
    c = ClauseChunker(min_chars=5)
    assert feed(c, ["## Steps\n\n", "1. **Open** the door.\n", "2. Walk in.\n"]) == [
        "Steps",
        "Open the door.",
        "Walk in.",
    ]


def test_every_split_position_gives_the_same_clauses() -> None:
    text = (
        "The sky is blue because of Rayleigh scattering. Short. It scatters blue light, which "
        "has a shorter wavelength, more than red light! Is that clear? Version 2.5 is out."
    )
    whole = ClauseChunker(min_chars=12)
    expected = [*feed(whole, [text]), whole.flush()]
    for cut in range(1, len(text)):
        c = ClauseChunker(min_chars=12)
        got = [*feed(c, [text[:cut], text[cut:]]), c.flush()]
        assert got == expected, cut
    assert expected == [
        "The sky is blue because of Rayleigh scattering.",
        "Short. It scatters blue light, which has a shorter wavelength,",
        "more than red light!",
        "Is that clear?",
        "Version 2.5 is out.",
    ]


def test_max_wait_prefers_a_comma_to_a_bare_word_boundary() -> None:
    clock = Clock()
    c = ClauseChunker(min_chars=10, weak_min_chars=200, max_wait_s=1.0, clock=clock)
    c.aggregate("This brings us to the stars, clouds, and the plan")
    clock.now += 1.0
    assert c.due() == "This brings us to the stars, clouds,"
    assert c.pending == "and the plan"
