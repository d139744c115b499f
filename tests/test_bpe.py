"""BPE units (asr.bpe): training a sentencepiece model, round trips, the `asr bpe train` command,
the tokenizer config, decoding BPE log-probs (greedy, beam + LM, word times) and a tiny BPE model
trained, loaded, decoded, reported and exported."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_run

from asr.align import word_timestamps
from asr.bpe import BpeError, BpeVocab, load_vocab, train_bpe
from asr.cli import main
from asr.config import ConfigError, load_config, model_dims
from asr.data.sentences import generate_sentences
from asr.decode import BeamSearchDecoder, DecoderError, GreedyDecoder
from asr.lm import estimate_kn, read_text, write_arpa
from asr.text import BLANK, Speller

pytest.importorskip("sentencepiece")

CORPUS = ["THE CAT SAT", "THE CAT RAN", "A CAT SAT ON THE MAT", "THE HAT FELL", "A RED HAT"] * 3


def grammar_text(tmp: Path, n: int = 300) -> Path:
    """`n` sentences of the synthetic grammar, one a line, in lower case (normalised on reading)."""
    path = tmp / "sentences.txt"
    path.write_text("\n".join(generate_sentences(n, seed=1)) + "\n")
    return path


def test_training_is_deterministic_and_round_trips(tmp_path):
    text = grammar_text(tmp_path)
    info = train_bpe([text], 80, tmp_path / "a")
    again = train_bpe([text], 80, tmp_path / "b")
    model = Path(info["model"])
    assert model.read_bytes() == Path(again["model"]).read_bytes()  # same text, same model
    assert len(Path(info["vocab"]).read_text().splitlines()) == 80 == info["vocab_size"]
    vocab = BpeVocab.from_file(model)
    assert len(vocab) == 80 and vocab.blank == 0
    assert vocab.tokens[:2] == [BLANK, ""]  # the blank, then <unk> (shown as nothing)
    assert " " in vocab.tokens and any(t.startswith(" ") and len(t) > 2 for t in vocab.tokens)
    assert all(" " not in t[1:] for t in vocab.tokens)  # the word marker leads, if anywhere
    sentences = read_text(text)
    assert sentences[0] == sentences[0].upper()
    speller = Speller(vocab.tokens)
    pieces = 0
    for s in sentences:
        ids = vocab.encode(s)
        assert vocab.decode(ids) == s
        assert speller(s) == ids  # the tokens alone spell text as sentencepiece does
        pieces += len(ids)
    assert pieces < 0.7 * sum(map(len, sentences))  # pieces are longer than characters
    # a letter the text never had: no piece for it
    missing = next(c for c in "QZJXV" if c not in vocab.index)
    with pytest.raises(ValueError, match="not in the BPE vocabulary"):
        vocab.encode(f"THE {missing}OO")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        speller(f"THE {missing}OO")
    # a JSONL manifest with the same transcripts gives the same model
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": str(i), "text": s}) + "\n"
                                for i, s in enumerate(generate_sentences(300, seed=1))))
    from_manifest = train_bpe([manifest], 80, tmp_path / "c")
    assert Path(from_manifest["model"]).read_bytes() == model.read_bytes()
    # stored as in checkpoints
    assert load_vocab(vocab.vocab, vocab.to_base64()).tokens == vocab.tokens
    with pytest.raises(BpeError, match="differ"):
        load_vocab(vocab.vocab[:-1], vocab.to_base64())
    assert load_vocab(list("AB")).tokens == [BLANK, "A", "B"]  # no BPE model: characters


def test_foreign_or_broken_models_are_refused(tmp_path):
    import sentencepiece as spm

    text = grammar_text(tmp_path, 100)
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "plain"),
                                   vocab_size=40, model_type="bpe", minloglevel=2)
    with pytest.raises(BpeError, match="piece 0 must be the blank"):
        BpeVocab.from_file(tmp_path / "plain.model")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(BpeError, match="junk.model: not a sentencepiece model"):
        BpeVocab.from_file(tmp_path / "junk.model")
    with pytest.raises(BpeError, match="nothere.model: BPE model not found"):
        BpeVocab.from_file(tmp_path / "nothere.model")
    with pytest.raises(BpeError, match="not base64"):
        BpeVocab.from_base64("%%%")


def test_bpe_train_command_and_its_errors(tmp_path, capsys):
    text = grammar_text(tmp_path, 100)
    out = tmp_path / "bpe"
    assert main(["bpe", "train", "--text", str(text), "--vocab-size", "50", "--out", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["vocab_size"] == 50 and info["sentences"] == 100
    assert len(BpeVocab.from_file(out / "bpe.model")) == 50
    cases = [
        (["--text", str(tmp_path / "missing.txt"), "--vocab-size", "50"], "missing.txt"),
        (["--text", str(text), "--vocab-size", "100000"], "Vocabulary size too high"),
        (["--text", str(text), "--vocab-size", "2"], "--vocab-size 2"),
    ]
    for args, expected in cases:
        assert main(["bpe", "train", *args, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("asr bpe: error:") and expected in err
        assert len(err.splitlines()) == 1


def test_without_sentencepiece_bpe_is_one_clear_error(tmp_path, monkeypatch, capsys):
    model = train_bpe([grammar_text(tmp_path, 50)], 40, tmp_path / "bpe")["model"]
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # import fails as if not installed
    args = ["bpe", "train", "--text", str(tmp_path / "sentences.txt"), "--vocab-size", "40",
            "--out", str(tmp_path / "x")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'asr[bpe]'" in err
    with pytest.raises(BpeError, match="sentencepiece, which is not installed"):
        BpeVocab.from_file(model)


def test_tokenizer_config(tmp_path):
    cfg_path, _ = tiny_run(tmp_path)
    cfg = load_config(cfg_path)
    assert (cfg.tokenizer.type, cfg.tokenizer.bpe_model) == ("char", None)  # the default
    assert model_dims(cfg).vocab_size == 29
    model = train_bpe([grammar_text(tmp_path, 100)], 45, tmp_path / "bpe")["model"]
    bpe = load_config(cfg_path, ["tokenizer.type=bpe", f"tokenizer.bpe_model={model}"])
    assert model_dims(bpe).vocab_size == 45
    with pytest.raises(ConfigError, match="tokenizer.bpe_model: needed by type bpe"):
        load_config(cfg_path, ["tokenizer.type=bpe"])
    with pytest.raises(ConfigError, match="tokenizer.type: unknown tokenizer type 'wordpiece'"):
        load_config(cfg_path, ["tokenizer.type=wordpiece"])
    with pytest.raises(ConfigError, match="tokenizer.bpe_model: .*none.model: BPE model not"):
        model_dims(load_config(cfg_path, ["tokenizer.type=bpe",
                                          f"tokenizer.bpe_model={tmp_path / 'none.model'}"]))


# ------------------------------------------------------------------ decoding BPE log-probs


@pytest.fixture(scope="module")
def cat_bpe(tmp_path_factory) -> tuple[list[str], Path]:
    """(tokens of a 30-piece BPE model of CORPUS, a 3-gram ARPA LM of CORPUS)."""
    tmp = tmp_path_factory.mktemp("cat")
    (tmp / "corpus.txt").write_text("\n".join(CORPUS) + "\n")
    vocab = BpeVocab.from_file(train_bpe([tmp / "corpus.txt"], 30, tmp)["model"])
    return vocab.tokens, write_arpa(estimate_kn(CORPUS, order=3), tmp / "cat.arpa")


def emissions(tokens: list[str], frames: list[dict[str, float]]) -> torch.Tensor:
    """(1, T, V) log-probs: each frame gives some tokens a probability, the rest to the blank."""
    index = {t: i for i, t in enumerate(tokens)}
    x = torch.full((len(frames), len(tokens)), 1e-4)
    for t, probs in enumerate(frames):
        for tok, p in probs.items():
            x[t, index[tok]] = p
        x[t, 0] = max(1.0 - sum(probs.values()), 1e-4)
    return (x / x.sum(-1, keepdim=True)).log()[None]


def frames_for(tokens: list[str], ids: list[int]) -> list[dict[str, float]]:
    """Each piece on one confident frame, then a blank frame."""
    return [f for i in ids for f in ({tokens[i]: 0.95}, {})]


def test_bpe_greedy_beam_lm_and_word_times_on_handmade_log_probs(cat_bpe):
    pytest.importorskip("flashlight.lib.text")
    tokens, lm = cat_bpe
    speller = Speller(tokens)
    assert [tokens[i] for i in speller.word("HAT")] == [" HAT"]
    mat = [tokens[i] for i in speller.word("MAT")]
    assert len(mat) > 1 and "".join(mat) == " MAT"  # a word of several pieces
    # "THE ?AT SAT ON THE MAT", the acoustics slightly preferring " HAT" over " CAT"
    x = emissions(tokens, frames_for(tokens, speller("THE")) + [{" HAT": 0.55, " CAT": 0.40}, {}]
                  + frames_for(tokens, speller("SAT ON THE MAT")))
    n = torch.tensor([x.shape[1]])
    assert GreedyDecoder(tokens)(x, n) == ["THE HAT SAT ON THE MAT"]
    assert BeamSearchDecoder(tokens)(x, n) == ["THE HAT SAT ON THE MAT"]  # lexicon-free
    beam = BeamSearchDecoder(tokens, lm=lm, alpha=1.0, beta=0.0)  # a lexicon of pieces
    assert beam(x, n) == ["THE CAT SAT ON THE MAT"]  # "CAT SAT" is seen, "HAT SAT" is not
    beam.set_weights(0.0, 0.0)
    assert beam(x, n) == ["THE HAT SAT ON THE MAT"]
    with pytest.raises(DecoderError, match="characters only"):
        BeamSearchDecoder(tokens, backend="pyctcdecode")
    # word times: each word from its first piece's frame to the end of its last piece's frame
    text = "THE CAT SAT ON THE MAT"
    x = emissions(tokens, frames_for(tokens, speller(text)))
    words = word_timestamps(x[0], text, tokens, frame_seconds=0.1)
    assert [w.word for w in words] == text.split()
    first = 0
    for w, name in zip(words, text.split()):
        last = first + len(speller.word(name)) - 1
        assert (w.start, w.end) == (round(0.2 * first, 3), round(0.2 * last + 0.1, 3))
        assert w.confidence > 0.9
        first = last + 1


def test_word_times_fall_back_to_fewer_pieces_on_short_audio():
    tokens = [BLANK, "", "BC", " ", "A", "B", "C", " AB"]  # "BC" merges before " AB"
    speller = Speller(tokens)
    assert speller.word("ABC") == [3, 4, 2]  # " ", "A", "BC"
    assert speller.fewest("ABC") == [7, 6]  # " AB", "C"
    x = emissions(tokens, [{" AB": 0.95}, {"C": 0.95}])  # two frames: too few for 3 pieces
    (word,) = word_timestamps(x[0], "ABC", tokens, frame_seconds=0.1)
    assert (word.word, word.start, word.end) == ("ABC", 0.0, 0.2)
    assert word.confidence > 0.9


# ------------------------------------------------------------------ a tiny BPE model


def test_tiny_bpe_model_trains_decodes_reports_and_exports(trained, tmp_path, capsys):
    pytest.importorskip("flashlight.lib.text")
    import asr
    from asr.checkpoint import load_network, read_checkpoint
    from asr.export import export_model, parity
    from asr.lm import build_lm
    from asr.train import fit

    cfg, val = tiny_run(tmp_path)
    train = tmp_path / "train.jsonl"
    info = train_bpe([train, val], 24, tmp_path / "bpe")
    vocab = BpeVocab.from_file(info["model"])
    assert any(len(t) > 2 for t in vocab.tokens[2:])  # the tiny corpus still gives merges
    units = ["tokenizer.type=bpe", f"tokenizer.bpe_model={info['model']}"]
    fit(load_config(cfg, units))
    ckpt = tmp_path / "exp" / "checkpoints" / "last.ckpt"
    hp = read_checkpoint(ckpt)["hyper_parameters"]
    assert base64.b64decode(hp["bpe_model"]) == Path(info["model"]).read_bytes()
    assert hp["vocab"] == vocab.tokens[1:] and hp["dims"]["vocab_size"] == 24
    assert "bpe_model" not in read_checkpoint(trained[0])["hyper_parameters"]  # characters

    model = asr.load_model(ckpt)
    assert model.tokens == vocab.tokens and model.bpe_model == hp["bpe_model"]
    record = json.loads(val.read_text().splitlines()[0])
    greedy = model.transcribe(record["audio"])
    assert [w.word for w in greedy.words] == greedy.text.split()
    # beam search over the LM's words spelled in pieces; a big word bonus makes it emit words
    build_lm([train], tmp_path / "lm.arpa", order=2, estimator="python")
    known = set((tmp_path / "lm.arpa.words").read_text().split())
    decoder = {"type": "beam", "lm": str(tmp_path / "lm.arpa"), "alpha": 0.5, "beta": 5.0}
    beam = model.transcribe(record["audio"], decoder=decoder)
    words = beam.text.split()
    assert words and set(words) <= known
    assert [w.word for w in beam.words] == words
    times = [(w.start, w.end) for w in beam.words]
    assert all(a <= b <= record["duration"] + 0.1 for a, b in times)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(times, times[1:]))

    # evaluate + report, from the checkpoint alone
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--manifest", str(val), "--out-dir",
                 str(out), "--report", str(out / "report")]) == 0
    capsys.readouterr()
    assert json.loads((out / "wer.json").read_text())["utterances"] == len(
        val.read_text().splitlines())
    assert (out / "report" / "report.json").is_file()

    # exports carry the BPE model and decode alike
    module = load_network(ckpt)
    for fmt, name in (("torchscript", "m.pt"), ("onnx", "m.onnx")):
        if fmt == "onnx":
            pytest.importorskip("onnxruntime")
        path = export_model(module, tmp_path / name, fmt)
        exported = asr.load_model(path)
        assert exported.bpe_model == hp["bpe_model"] and exported.tokens == vocab.tokens
        assert parity(module, path) < 1e-4
        assert exported.transcribe(record["audio"]).text == greedy.text

    # fine-tuning a character checkpoint into BPE units: one line naming the vocabularies
    assert main(["train", "--config", str(cfg), *units, f"init_from={trained[0]}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "(29 tokens, characters) differs from this model's (24 tokens, BPE pieces)" in err[0]
