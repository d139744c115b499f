"""Decoders on hand-made log-probs: greedy, beam search with and without LM, lexicon, word bonus."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from asr.decode import (
    BeamSearchDecoder,
    DecoderError,
    GreedyDecoder,
    build_decoder,
    greedy_decode,
    tuned_path,
)
from asr.lm import estimate_kn, write_arpa
from asr.text import CharVocab

TOKENS = CharVocab().tokens  # blank, space, apostrophe, A-Z
INDEX = {t: i for i, t in enumerate(TOKENS)}
BACKENDS = [
    "flashlight",
    pytest.param(
        "pyctcdecode",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("pyctcdecode") is None
            or importlib.util.find_spec("kenlm") is None,
            reason="pyctcdecode/kenlm not installed (optional backend)",
        ),
    ),
]
CORPUS = ["THE CAT SAT", "THE CAT RAN", "A CAT SAT ON THE MAT", "THE HAT FELL", "A RED HAT"] * 3


def emissions(frames: list[dict[str, float]]) -> torch.Tensor:
    """(1, T, V) log-probs: each frame gives probabilities of some tokens, the rest of the mass
    goes to blank."""
    x = torch.full((len(frames), len(TOKENS)), 1e-4)
    for t, probs in enumerate(frames):
        for tok, p in probs.items():
            x[t, INDEX[tok]] = p
        x[t, 0] = max(1.0 - sum(probs.values()), 1e-4)
    return (x / x.sum(-1, keepdim=True)).log()[None]


def spell(text: str) -> list[dict[str, float]]:
    """Confident frames for `text`: each character followed by a blank frame."""
    out = []
    for c in text:
        out += [{c: 0.95}, {}]
    return out


def ambiguous_cat() -> torch.Tensor:
    """'THE ?AT SAT' where the acoustics slightly prefer H (0.55) over C (0.40)."""
    return emissions(spell("THE ") + [{"H": 0.55, "C": 0.40}, {}] + spell("AT SAT"))


def run(decoder, x: torch.Tensor) -> str:
    return decoder(x, torch.tensor([x.shape[1]]))[0]


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "cat.arpa"
    return write_arpa(estimate_kn(CORPUS, order=3), path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lm_flips_an_acoustically_ambiguous_word(lm, backend):
    x = ambiguous_cat()
    assert run(GreedyDecoder(TOKENS), x) == "THE HAT SAT"
    assert run(BeamSearchDecoder(TOKENS, backend=backend), x) == "THE HAT SAT"
    # both HAT and CAT are LM words: "CAT SAT" is seen, "HAT SAT" is not
    beam = BeamSearchDecoder(TOKENS, lm=lm, alpha=1.0, beta=0.0, backend=backend)
    assert run(beam, x) == "THE CAT SAT"
    beam.set_weights(0.0, 0.0)  # the LM weight is what flips it
    assert run(beam, x) == "THE HAT SAT"


def test_beam_without_lm_equals_greedy_on_peaked_distributions():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 40, len(TOKENS), generator=gen)
    peaks = torch.randint(0, len(TOKENS), (6, 40), generator=gen)
    logits.scatter_(2, peaks[..., None], 8.0)  # the argmax holds >= 0.9 of the mass
    log_probs = logits.log_softmax(-1)
    lengths = torch.tensor([40, 33, 40, 25, 12, 40])
    greedy = greedy_decode(log_probs, lengths, TOKENS)
    assert BeamSearchDecoder(TOKENS, beam_size=8)(log_probs, lengths) == greedy
    assert len(set(greedy)) == 6


def test_word_bonus_trades_words_for_fewer(tmp_path):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("IN\nTO\nINTO\n")
    # a space between IN and TO is a coin toss acoustically
    x = emissions(spell("IN") + [{" ": 0.5}] + spell("TO"))
    fewer = BeamSearchDecoder(TOKENS, lexicon=lexicon, beta=-3.0)
    more = BeamSearchDecoder(TOKENS, lexicon=lexicon, beta=3.0)
    assert run(fewer, x) == "INTO"
    assert run(more, x) == "IN TO"


def test_lexicon_constrains_the_output_words(tmp_path):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("the\ncat\nsat\n")  # lower case is fine; no HAT
    x = ambiguous_cat()
    assert run(BeamSearchDecoder(TOKENS, lexicon=lexicon, beta=0.0), x) == "THE CAT SAT"


def test_tuned_weights_are_the_default(lm, tmp_path):
    assert BeamSearchDecoder(TOKENS, lm=lm).alpha == 0.5  # no tuned file yet: the default
    tuned = tuned_path(lm)
    tuned.write_text(json.dumps({"flashlight": {"alpha": 1.75, "beta": -0.5}}))
    try:
        d = BeamSearchDecoder(TOKENS, lm=lm)
        assert (d.alpha, d.beta) == (1.75, -0.5)
        assert BeamSearchDecoder(TOKENS, lm=lm, alpha=0.2).alpha == 0.2  # explicit wins
    finally:
        tuned.unlink()


def test_build_decoder_factory_and_errors(lm, tmp_path):
    assert isinstance(build_decoder(TOKENS, None), GreedyDecoder)
    d = build_decoder(TOKENS, {"type": "beam", "lm": str(lm), "beam_size": 7, "alpha": 0.3})
    assert d.config["beam_size"] == 7 and d.config["alpha"] == 0.3 and d.config["lm"] == str(lm)
    with pytest.raises(DecoderError, match="unknown decoder type"):
        build_decoder(TOKENS, {"type": "viterbi"})
    with pytest.raises(DecoderError, match="not found"):
        build_decoder(TOKENS, {"type": "beam", "lm": str(tmp_path / "missing.arpa")})
    binary = tmp_path / "lm.bin"
    binary.write_bytes(b"not a kenlm file")
    with pytest.raises(DecoderError, match="word list"):
        build_decoder(TOKENS, {"type": "beam", "lm": str(binary)})
