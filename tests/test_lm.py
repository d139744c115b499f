"""N-gram LM building (modified Kneser-Ney, ARPA), reading, and alpha/beta tuning."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import pytest

import asr.lm as lm_module
from asr.cli import build_parser, main
from asr.decode import BeamSearchDecoder, read_words
from asr.lm import (
    BOS,
    EOS,
    UNK,
    LMError,
    build_lm,
    download_librispeech_lm,
    estimate_kn,
    kenlm_tool,
    kn_discounts,
    lmplz_memory,
    perplexity,
    read_text,
    tune_weights,
    write_arpa,
)

TOKENS = ["", " ", "'", *[chr(c) for c in range(ord("A"), ord("Z") + 1)]]


def test_discounts_follow_chen_goodman():
    # t1..t4 = 10, 4, 2, 1: Y = 10 / (10 + 2*4) = 5/9
    # D1 = 1 - 2Y t2/t1 = 1 - 4/9 = 5/9; D2 = 2 - 3Y t3/t2 = 2 - 5/6 = 7/6
    # D3+ = 3 - 4Y t4/t3 = 3 - 10/9 = 17/9
    assert kn_discounts([10, 4, 2, 1]) == pytest.approx((5 / 9, 7 / 6, 17 / 9))
    assert kn_discounts([2, 2, 0, 0]) == (0.5, 1.0, 1.5)  # t3 = 0: lmplz's fallback


def test_kneser_ney_matches_hand_computed_values():
    # Corpus "A B", "A C", "B", order 2. All count-of-counts have t3 = 0: fallback discounts
    # D1 = 0.5, D2 = 1, D3+ = 1.5 for both orders.
    # Bigram counts (raw): <s> A 2, <s> B 1, A B 1, A C 1, B </s> 2, C </s> 1.
    # Unigram continuation counts: A 1 (<s>), B 2 (A, <s>), C 1 (A), </s> 2 (B, C); sum 6.
    # gamma() = (0.5*2 + 1*2) / 6 = 1/2; uniform over {A, B, C, </s>, <unk>} = 1/5.
    # p(A) = p(C) = (1 - .5)/6 + 1/2 * 1/5 = 11/60; p(B) = p(</s>) = (2 - 1)/6 + 1/10 = 4/15;
    # p(<unk>) = 1/10 (sum: 11 + 11 + 16 + 16 + 6 = 60/60).
    # Context <s>: A 2, B 1 (sum 3): gamma = (.5 + 1)/3 = 1/2;
    #   p(A|<s>) = (2 - 1)/3 + 1/2 * 11/60 = 17/40; p(B|<s>) = .5/3 + 1/2 * 4/15 = 3/10.
    # Context A: B 1, C 1 (sum 2): gamma = 1/2; p(B|A) = .5/2 + 1/2 * 4/15 = 23/60;
    #   p(C|A) = 1/4 + 1/2 * 11/60 = 41/120.
    # Context B: </s> 2 (sum 2): gamma = 1/2; p(</s>|B) = 1/2 + 1/2 * 4/15 = 19/30.
    # Context C: </s> 1 (sum 1): gamma = 1/2; p(</s>|C) = .5 + 1/2 * 4/15 = 19/30.
    uni, bi = estimate_kn(["A B", "A C", "B"], order=2)
    expected_uni = {
        "A": (11 / 60, 0.5), "B": (4 / 15, 0.5), "C": (11 / 60, 0.5),
        EOS: (4 / 15, None), UNK: (1 / 10, None), BOS: (0.0, 0.5),
    }
    assert set(uni) == {(w,) for w in expected_uni}
    for w, (p, b) in expected_uni.items():
        assert uni[(w,)][0] == pytest.approx(p)
        assert uni[(w,)][1] == (pytest.approx(b) if b is not None else None)
    expected_bi = {
        (BOS, "A"): 17 / 40, (BOS, "B"): 3 / 10, ("A", "B"): 23 / 60, ("A", "C"): 41 / 120,
        ("B", EOS): 19 / 30, ("C", EOS): 19 / 30,
    }
    assert {g: p for g, (p, _) in bi.items()} == pytest.approx(expected_bi)


def _prob(model, context: tuple, word: str) -> float:
    """ARPA semantics: p(w|h) if listed, else backoff(h) * p(w|h minus its first word)."""
    g = (*context, word)
    if g in model[len(g) - 1]:
        return model[len(g) - 1][g][0]
    entry = model[len(context) - 1].get(context) if context else None
    backoff = entry[1] if entry and entry[1] is not None else 1.0
    return backoff * _prob(model, context[1:], word)


def test_backoffs_make_every_distribution_sum_to_one():
    rng = random.Random(0)
    words = "THE A CAT DOG SAT RAN ON MAT HAT".split()
    corpus = [" ".join(rng.choices(words, k=rng.randint(1, 7))) for _ in range(60)]
    model = estimate_kn(corpus, order=3)
    vocab = [g[0] for g in model[0] if g[0] != BOS]
    contexts = [(), (BOS,), ("CAT",), ("THE", "CAT"), (BOS, "THE"), ("DOG", "HAT"), ("MAT", "ON")]
    for ctx in contexts:
        assert sum(_prob(model, ctx, w) for w in vocab) == pytest.approx(1.0, abs=1e-9), ctx


def test_arpa_file_loads_in_kenlm_with_the_same_scores(tmp_path):
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    path = write_arpa(estimate_kn(["A B", "A C", "B"], order=2), tmp_path / "tiny.arpa")
    assert read_words(path) == ["A", "B", "C"]
    lm = KenLM(str(path), Dictionary(["A", "B", "C", UNK]))
    state, a = lm.score(lm.start(False), 0)
    state, b = lm.score(state, 1)
    _, end = lm.finish(state)
    assert (a, b, end) == pytest.approx(
        (math.log10(17 / 40), math.log10(23 / 60), math.log10(19 / 30)), abs=1e-6
    )


def test_kenlm_tool_is_found_on_path_or_next_to_the_interpreter(tmp_path, monkeypatch):
    venv_bin, path_bin = tmp_path / "venv" / "bin", tmp_path / "path"
    for d in (venv_bin, path_bin):
        d.mkdir(parents=True)
    (venv_bin / "python").touch()
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.setenv("PATH", str(path_bin))
    assert kenlm_tool("lmplz") is None
    (venv_bin / "lmplz").write_text("#!/bin/sh\n")
    (venv_bin / "lmplz").chmod(0o755)
    assert kenlm_tool("lmplz") == str(venv_bin / "lmplz")  # a venv's bin, not on PATH
    (path_bin / "lmplz").write_text("#!/bin/sh\n")
    (path_bin / "lmplz").chmod(0o755)
    assert kenlm_tool("lmplz") == str(path_bin / "lmplz")  # PATH first


@pytest.mark.skipif(kenlm_tool("lmplz") is None, reason="no lmplz (scripts/build_kenlm.sh)")
def test_python_estimator_agrees_with_lmplz(tmp_path):
    rng = random.Random(1)
    words = [f"W{i}" for i in range(40)]
    text = tmp_path / "text.txt"
    lines = [" ".join(rng.choices(words, k=rng.randint(2, 9))) for _ in range(400)]
    text.write_text("\n".join(lines) + "\n")
    arpas = {}
    for estimator in ("python", "lmplz"):
        build_lm([text], tmp_path / f"{estimator}.arpa", 3, estimator=estimator)
        arpas[estimator] = _read_arpa(tmp_path / f"{estimator}.arpa")
    assert arpas["python"].keys() == arpas["lmplz"].keys()
    for g, (p, b) in arpas["python"].items():
        q, c = arpas["lmplz"][g]
        assert (p, b) == pytest.approx((q, c), abs=1e-5) or g == BOS  # <s>: -99 vs 0, unused


def _read_arpa(path) -> dict[str, tuple[float, float]]:
    out = {}
    for line in path.read_text().splitlines():
        f = line.split("\t")
        if len(f) >= 2:
            out[f[1]] = (float(f[0]), float(f[2]) if len(f) > 2 else 0.0)
    return out


def test_build_lm_reads_formats_and_excludes_held_out_sentences(tmp_path):
    sentences = tmp_path / "sentences.tsv"
    sentences.write_text(
        "s1|The cat sat.\ns2|It cost 5 pounds, he said\ns3|The held-out one\ns4|Mr. Smith\n\n"
    )
    held_out = tmp_path / "test.jsonl"
    held_out.write_text(json.dumps({"id": "t", "text": "THE HELD OUT ONE"}) + "\n")
    held_ids = tmp_path / "heldout.txt"  # same id, differently normalised text: still left out
    held_ids.write_text("s4|MISTER SMITH\n")
    assert read_text(sentences)[1] == "IT COST FIVE POUNDS HE SAID"
    info = build_lm([sentences], tmp_path / "lm" / "x.arpa", order=2,
                    exclude=[held_out, held_ids], estimator="python")
    assert (info["sentences"], info["excluded"], info["estimator"]) == (2, 2, "python")
    assert "HELD" not in read_words(tmp_path / "lm" / "x.arpa")
    assert "HELD" not in (tmp_path / "lm" / "x.arpa.words").read_text().split()
    with pytest.raises(LMError, match="no such file"):
        read_text(tmp_path / "missing.txt")


def test_lm_build_cli(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("the cat sat\nthe dog ran\n")
    out = tmp_path / "lm.arpa"
    args = ["lm", "build", "--text", str(text), "--order", "3", "--out", str(out)]
    assert main([*args, "--estimator", "python"]) == 0
    assert json.loads(capsys.readouterr().out)["vocabulary"] == 5
    assert out.read_text().startswith("\\data\\\nngram 1=8\nngram 2=")
    assert main(["lm", "build", "--text", str(tmp_path / "nope.txt"), "--out", str(out)]) == 2
    assert "nope.txt: no such file" in capsys.readouterr().err


def test_tune_weights_picks_the_lm_weight_that_fixes_the_ambiguous_word(tmp_path):
    from test_decode import CORPUS, ambiguous_cat

    lm = write_arpa(estimate_kn(CORPUS, order=3), tmp_path / "cat.arpa")
    decoder = BeamSearchDecoder(TOKENS, lm=lm)
    result = tune_weights(decoder, [(ambiguous_cat()[0], "THE CAT SAT")], [0.0, 1.0], [0.0])
    assert (result["alpha"], result["wer"]) == (1.0, 0.0)
    assert [g["wer"] for g in result["grid"]] == pytest.approx([1 / 3, 0.0])


def test_tune_lm_cli_writes_weights_that_evaluate_uses(trained, tmp_path, capsys):
    ckpt, manifest = trained
    text = tmp_path / "text.txt"
    text.write_text("\n".join(json.loads(line)["text"] for line in manifest.open()) + "\n")
    lm = tmp_path / "lm.arpa"
    assert main(["lm", "build", "--text", str(text), "--out", str(lm), "--order", "2"]) == 0
    args = ["--checkpoint", str(ckpt), "--manifest", str(manifest), "--lm", str(lm)]
    assert main(["lm", "tune", *args, "--alphas=0.5,2", "--betas=-1,4", "--beam-size", "4"]) == 0
    old = build_parser().parse_args(["tune-lm", *args])  # the older spelling: the same command
    assert old.func is build_parser().parse_args(["lm", "tune", *args]).func
    tuned = json.loads((tmp_path / "lm.arpa.tuned.json").read_text())["flashlight"]
    assert len(tuned["grid"]) == 4 and tuned["beam_size"] == 4
    assert (tuned["alpha"], tuned["beta"]) in {(a, b) for a in (0.5, 2) for b in (-1, 4)}
    capsys.readouterr()
    assert main(["evaluate", *args, "--out-dir", str(tmp_path / "ev"), "--beam-size", "4"]) == 0
    decoder = json.loads((tmp_path / "ev" / "wer.json").read_text())["decoder"]
    assert decoder["type"] == "beam" and decoder["lm"] == str(lm)
    assert (decoder["alpha"], decoder["beta"]) == (tuned["alpha"], tuned["beta"])
    assert json.loads((tmp_path / "ev" / "wer.json").read_text())["wer"] == tuned["wer"]


def test_librispeech_lm_download_is_atomic_and_cached(tmp_path):
    mirror = tmp_path / "mirror"
    write_arpa(estimate_kn(["A B"], order=2), mirror / "3-gram.arpa.gz")
    url = mirror.as_uri()
    got = download_librispeech_lm(tmp_path / "lm", "3-gram.arpa.gz", base_url=url)
    assert got.read_bytes() == (mirror / "3-gram.arpa.gz").read_bytes()
    (mirror / "3-gram.arpa.gz").unlink()  # cached: not fetched again
    assert download_librispeech_lm(tmp_path / "lm", "3-gram.arpa.gz", base_url=url) == got
    with pytest.raises(LMError, match="download failed"):
        download_librispeech_lm(tmp_path / "lm", "4-gram.arpa.gz", base_url=url)
    assert not list((tmp_path / "lm").glob("*.part"))
    with pytest.raises(LMError, match="unknown LibriSpeech LM"):
        download_librispeech_lm(tmp_path / "lm", "5-gram.arpa")


def test_lmplz_memory_grows_with_the_text_within_bounds(monkeypatch):
    monkeypatch.setattr(lm_module, "_ram_mib", lambda: 16 * 1024)
    assert lmplz_memory(0) == "100M"  # the floor: lmplz aborts below ~24 MB
    assert lmplz_memory(50 * 2**20) == "1000M"
    assert lmplz_memory(10 * 2**30) == "20%"  # the cap


def test_perplexity_matches_kenlm_scores(tmp_path, monkeypatch):
    """The ARPA reader's perplexity (OOVs at <unk>, </s> counted) against KenLM's own scores."""
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    rng = random.Random(2)
    words = [f"W{i}" for i in range(30)]
    train = [" ".join(rng.choices(words[:25], k=rng.randint(2, 8))) for _ in range(300)]
    dev = [" ".join(rng.choices(words, k=rng.randint(2, 8))) for _ in range(40)]  # some OOVs
    path = write_arpa(estimate_kn(train, order=3), tmp_path / "lm.arpa")
    vocab = read_words(path)
    lm = KenLM(str(path), Dictionary([*vocab, UNK]))
    index, total, n = {w: i for i, w in enumerate(vocab)}, 0.0, 0
    for sentence in dev:
        state = lm.start(False)
        for w in sentence.split():
            state, score = lm.score(state, index.get(w, len(vocab)))
            total, n = total + score, n + 1
        total, n = total + lm.finish(state)[1], n + 1
    monkeypatch.setattr(lm_module, "kenlm_tool", lambda name: None)
    got = perplexity(path, dev)
    assert got["tokens"] == n
    assert got["perplexity"] == pytest.approx(10 ** (-total / n), rel=1e-3)
    oovs = sum(w not in index for s in dev for w in s.split())
    assert oovs > 0 and got["oov_rate"] == pytest.approx(oovs / n, abs=1e-4)


@pytest.mark.skipif(kenlm_tool("lmplz") is None or kenlm_tool("query") is None,
                    reason="no lmplz/query (scripts/build_kenlm.sh)")
def test_pruned_lmplz_build_binary_and_query_perplexity(tmp_path, monkeypatch):
    rng = random.Random(3)
    words = [f"W{i}" for i in range(60)]
    text, dev = tmp_path / "text.txt", tmp_path / "dev.txt"
    text.write_text("\n".join(" ".join(rng.choices(words, k=rng.randint(3, 12)))
                              for _ in range(2000)) + "\n")
    dev.write_text("\n".join(" ".join(rng.choices(words, k=rng.randint(3, 12)))
                             for _ in range(50)) + "\n")
    full = build_lm([text], tmp_path / "full.arpa", 4, dev_text=dev)
    pruned = build_lm([text], tmp_path / "pruned.arpa", 4, prune=[0, 1], binary=True,
                      dev_text=dev)
    counts = {}
    for name in ("full", "pruned"):
        header = (tmp_path / f"{name}.arpa").read_text().split("\n\n")[0]
        counts[name] = [int(line.split("=")[1]) for line in header.splitlines()[1:]]
    assert counts["pruned"][:2] == counts["full"][:2]  # unigrams and bigrams kept
    assert counts["pruned"][2] < counts["full"][2] and counts["pruned"][3] < counts["full"][3]
    assert pruned["prune"] == [0, 1] and Path(pruned["binary"]).is_file()
    assert "binary_mb" in pruned and pruned["seconds"] > 0
    with pytest.raises(LMError, match="pruning"):
        build_lm([text], tmp_path / "x.arpa", 3, prune=[1], estimator="python")
    # KenLM's query and the ARPA reader agree on the perplexity of the same file
    by_query = full["dev"]["perplexity"]
    monkeypatch.setattr(lm_module, "kenlm_tool", lambda name: None)
    assert perplexity(tmp_path / "full.arpa", read_text(dev))["perplexity"] == pytest.approx(
        by_query, rel=1e-3)
