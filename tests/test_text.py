import pytest

from asr.text import CharVocab, ctc_min_frames, normalize_text, number_to_words


@pytest.mark.parametrize(
    ("raw", "clean", "dropped"),
    [
        ("Hello, World!", "HELLO WORLD", [",", "!"]),
        ("It's 2 o'clock", "IT'S TWO O'CLOCK", []),
        ("Caf\u00e9 na\u00efve", "CAFE NAIVE", []),
        (
            "the 21st of May, 1,204 people",
            "THE TWENTY FIRST OF MAY ONE THOUSAND TWO HUNDRED FOUR PEOPLE",
            [","],
        ),
        ("pi is 3.14", "PI IS THREE POINT ONE FOUR", []),
        ("well-known rock&roll", "WELL KNOWN ROCK AND ROLL", []),
        ("\u2018quoted\u2019 words", "QUOTED WORDS", []),
        ("x \u4e2d y", "X Y", ["\u4e2d"]),
        ("   ", "", []),
    ],
)
def test_normalize_text(raw, clean, dropped):
    assert normalize_text(raw) == (clean, sorted(dropped))


def test_number_to_words():
    assert number_to_words(0) == "ZERO"
    assert number_to_words(115) == "ONE HUNDRED FIFTEEN"
    assert number_to_words(3_000_042) == "THREE MILLION FORTY TWO"


def test_vocab_round_trip_and_layout():
    vocab = CharVocab()
    assert len(vocab) == 29 and vocab.tokens[0] == "<blank>" and vocab.blank == 0
    text = "DON'T STOP BELIEVING"
    ids = vocab.encode(text)
    assert 0 not in ids
    assert vocab.decode(ids) == text


def test_vocab_rejects_unknown_character():
    with pytest.raises(ValueError, match="'a'"):
        CharVocab().encode("abc")


def test_ctc_min_frames_counts_repeats():
    vocab = CharVocab()
    assert ctc_min_frames(vocab.encode("AB")) == 2
    assert ctc_min_frames(vocab.encode("HELLO")) == 6  # LL needs a blank between
    assert ctc_min_frames([]) == 0


def test_very_long_numbers_are_read_digit_by_digit():
    """Found by fuzzing: int() refuses strings beyond 4300 digits (and nobody says a 16-digit
    number in words); such numbers are read digit by digit."""
    assert normalize_text("card 1234567890123456")[0] == (
        "CARD ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE ZERO ONE TWO THREE FOUR FIVE SIX"
    )
    assert normalize_text("1" * 5000)[0] == " ".join(["ONE"] * 5000)
    assert normalize_text("999999999999999")[0].startswith("NINE HUNDRED NINETY NINE TRILLION")


@pytest.mark.parametrize(
    "raw, spoken",
    [
        ("$5", "FIVE DOLLARS"),
        ("It cost $1.50.", "IT COST ONE DOLLAR AND FIFTY CENTS"),
        ("$ 1,000,000", "ONE MILLION DOLLARS"),
        ("$0.99", "NINETY NINE CENTS"),
        ("$3.5", "THREE POINT FIVE DOLLARS"),
        ("\u00a32 and \u20ac1.01", "TWO POUNDS AND ONE EURO AND ONE CENT"),
        ("a $ sign", "A DOLLARS SIGN"),
    ],
)
def test_currency_amounts_are_read_amount_first(raw, spoken):
    assert normalize_text(raw)[0] == spoken
