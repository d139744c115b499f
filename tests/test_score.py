import jiwer
import pytest

from asr.score import char_errors, word_errors


def test_word_errors_known_strings():
    refs = ["THE CAT SAT ON THE MAT", "HELLO WORLD"]
    hyps = ["THE CAT SAT ON A MAT TODAY", "HELLO"]
    w = word_errors(refs, hyps)
    assert (w.substitutions, w.deletions, w.insertions, w.hits) == (1, 1, 1, 6)
    assert w.ref_len == 8 and w.rate == pytest.approx(3 / 8)
    assert w.rate == pytest.approx(jiwer.wer(refs, hyps))


def test_char_errors_and_empty_inputs():
    c = char_errors(["ABC"], ["ABD"])
    assert (c.substitutions, c.hits) == (1, 2) and c.rate == pytest.approx(1 / 3)
    assert char_errors(["AB"], [""]).deletions == 2
    empty_ref = word_errors([""], ["SPURIOUS WORDS"])
    assert empty_ref.insertions == 2 and empty_ref.ref_len == 0
    with pytest.raises(ValueError, match="2 references but 1"):
        word_errors(["A", "B"], ["A"])
