"""Speaker-disjoint splits (`asr.data.split`, `asr split`, `asr prepare-corpus --dev-speakers`):
disjoint, deterministic, gender-balanced, clear errors for too few speakers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_librispeech

from asr.cli import main
from asr.data.manifest import ManifestError, read_manifest, write_manifest
from asr.data.split import choose_speakers, read_speaker_genders, split_manifest

SPEAKERS_TXT = """\
; reader_id | gender | subset | minutes | name
;ID  |SEX| SUBSET           |MINUTES| NAME
{rows}
"""


def genders_of(n_female: int, n_male: int) -> dict[str, str]:
    spk = [str(100 + i) for i in range(n_female + n_male)]
    return {s: "F" if i < n_female else "M" for i, s in enumerate(spk)}


def test_split_is_disjoint_complete_and_deterministic():
    genders = genders_of(13, 9)
    speakers = list(genders)
    a = choose_speakers(speakers, 2, 3, genders, seed=0)
    assert a == choose_speakers(list(reversed(speakers)), 2, 3, genders, seed=0)
    assert (len(a["dev"]), len(a["test"]), len(a["train"])) == (2, 3, 17)
    sets = [set(a[s]) for s in ("train", "dev", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set().union(*sets) == set(speakers)
    others = [choose_speakers(speakers, 2, 3, genders, seed=s)["test"] for s in range(1, 6)]
    assert any(t != a["test"] for t in others)  # the seed chooses


@pytest.mark.parametrize("n_dev,n_test", [(2, 2), (2, 3), (4, 4), (1, 6)])
def test_split_balances_genders(n_dev, n_test):
    """13 women and 9 men, as in train-clean-5: each held-out set is as balanced as its size
    allows."""
    genders = genders_of(13, 9)
    for seed in range(5):
        chosen = choose_speakers(list(genders), n_dev, n_test, genders, seed)
        for split in ("dev", "test"):
            count = Counter(genders[s] for s in chosen[split])
            assert abs(count["F"] - count["M"]) <= 1, (seed, split, count)


def test_split_without_genders_and_errors():
    speakers = [f"s{i}" for i in range(5)]
    chosen = choose_speakers(speakers, 1, 1)
    assert len(chosen["train"]) == 3
    with pytest.raises(ValueError, match="5 speakers: too few to hold out 2 dev and 3 test"):
        choose_speakers(speakers, 2, 3)
    with pytest.raises(ValueError, match=">= 0"):
        choose_speakers(speakers, -1, 1)


def test_read_speaker_genders(tmp_path):
    path = tmp_path / "SPEAKERS.TXT"
    path.write_text(SPEAKERS_TXT.format(rows="14   | F | train-clean-360  | 25.03 | Kristin\n"
                                             "17   | M | train-clean-5    | 25.04 | Gord | x"))
    assert read_speaker_genders(path) == {"14": "F", "17": "M"}


def _records(speakers: dict[str, int]) -> list[dict]:
    return [{"id": f"{s}-{i}", "audio": f"/a/{s}-{i}.flac", "duration": 1.0 + i, "text": "A B",
             "speaker": s} for s, n in speakers.items() for i in range(n)]


def test_split_manifest_keeps_every_record_once(tmp_path):
    records = _records({f"{100 + i}": 2 + i % 3 for i in range(8)})
    src = write_manifest(records, tmp_path / "all.jsonl")
    genders = genders_of(4, 4)
    paths = split_manifest([src], tmp_path / "out", 2, 2, genders)
    got = {s: read_manifest(p) for s, p in paths.items()}
    ids = [r["id"] for recs in got.values() for r in recs]
    assert sorted(ids) == sorted(r["id"] for r in records)
    spk = {s: {r["speaker"] for r in recs} for s, recs in got.items()}
    assert len(spk["dev"]) == len(spk["test"]) == 2 and len(spk["train"]) == 4
    assert {genders[s] for s in spk["test"]} == {"F", "M"}
    listed = (tmp_path / "out" / "speakers.txt").read_text().splitlines()
    assert sorted(line.split("\t")[1] for line in listed) == sorted(genders)
    with pytest.raises(ManifestError, match="all.jsonl: 8 speakers: too few"):
        split_manifest([src], tmp_path / "bad", 4, 4)


def test_prepare_corpus_librispeech_split_with_ogg_audio(tmp_path, capsys):
    """Mini LibriSpeech as shared/ holds it: Ogg Opus audio, SPEAKERS.TXT beside the subset."""
    root = tmp_path / "LibriSpeech"
    subset = make_librispeech(root / "train-clean-5", speakers=6, utts=2)
    for flac in subset.rglob("*.flac"):  # Opus via libsndfile's libopus encoder
        wave, rate = sf.read(flac, dtype="float32")
        sf.write(flac.with_suffix(".ogg"), wave, rate, format="OGG", subtype="OPUS")
        flac.unlink()
    rows = "\n".join(f"{100 + s} | {'FM'[s % 2]} | train-clean-5 | 10 | R{s}" for s in range(1, 7))
    (root / "SPEAKERS.TXT").write_text(SPEAKERS_TXT.format(rows=rows))
    out = tmp_path / "data"
    assert main(["prepare-corpus", "librispeech", str(root), str(out), "--subsets",
                 "train-clean-5", "--dev-speakers", "2", "--test-speakers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "test: 4 utterances" in printed and "2 speakers" in printed
    test = read_manifest(out / "test.jsonl")
    assert all(r["audio"].endswith(".ogg") for r in test)
    genders = read_speaker_genders(root / "SPEAKERS.TXT")
    assert sorted(genders[r["speaker"]] for r in test) == ["F", "F", "M", "M"]  # one of each
    assert abs(test[0]["duration"] - sf.info(test[0]["audio"]).duration) < 0.05
    train = {r["speaker"] for r in read_manifest(out / "train.jsonl")}
    assert len(train) == 2 and not train & {r["speaker"] for r in test}


def test_split_command_on_a_tsv_corpus(tmp_path, capsys):
    """A TSV listing with a speaker column -> `asr prepare` -> `asr split`."""
    lines = []
    for s in range(4):
        for i in range(2):
            wav = tmp_path / f"spk{s}_{i}.wav"
            sf.write(wav, 0.1 * np.random.default_rng(s + i).standard_normal(16000), 16000)
            lines.append(f"{wav.name}\tHELLO THERE\tspk{s}")
    (tmp_path / "list.tsv").write_text("\n".join(lines) + "\n")
    assert main(["prepare", str(tmp_path / "list.tsv"), str(tmp_path / "all.jsonl")]) == 0
    assert main(["split", str(tmp_path / "all.jsonl"), str(tmp_path / "out"),
                 "--test-speakers", "1", "--seed", "3"]) == 0
    assert not (tmp_path / "out" / "dev.jsonl").exists()
    test = read_manifest(tmp_path / "out" / "test.jsonl")
    assert len(test) == 2 and len({r["speaker"] for r in test}) == 1
    assert main(["split", str(tmp_path / "all.jsonl"), str(tmp_path / "bad"),
                 "--test-speakers", "4"]) == 2
    assert "4 speakers: too few" in capsys.readouterr().err
    assert json.loads((tmp_path / "all.jsonl").read_text().splitlines()[0])["speaker"] == "spk0"


def test_prepare_corpus_split_is_librispeech_only(tmp_path):
    with pytest.raises(ManifestError, match="only for librispeech"):
        from asr.data.corpora import prepare_corpus

        prepare_corpus("fsdd", tmp_path, tmp_path / "out", dev_speakers=1)
    assert not Path(tmp_path / "out").exists()
