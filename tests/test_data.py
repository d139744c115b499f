import json
import shutil

import pytest
import soundfile as sf
import torch

from asr.data.dataset import AudioDataset, DurationBucketSampler, collate
from asr.data.librispeech import iter_librispeech, prepare_librispeech
from asr.data.manifest import ManifestError, build_manifest, read_listing, read_manifest
from asr.text import CharVocab, ctc_min_frames


def test_librispeech_layout_to_manifest(corpus, tmp_path):
    entries = list(iter_librispeech(corpus))
    assert len(entries) == 6
    uid, audio, text, speaker = entries[0]
    assert uid == "101-11-0000" and audio.suffix == ".flac" and speaker == "101"
    out = tmp_path / "m.jsonl"
    report = prepare_librispeech(corpus, out)
    records = read_manifest(out)
    assert report.kept == len(records) == 6
    rec = records[0]
    assert set(rec) == {"id", "audio", "duration", "text", "speaker"}
    assert rec["duration"] == pytest.approx(sf.info(rec["audio"]).duration, abs=1e-3)
    assert rec["text"] == text


def test_prepare_reports_and_skips_bad_entries(corpus, tmp_path):
    chapter = corpus / "101" / "11"
    (chapter / "101-11-0001.flac").write_text("not audio at all")
    trans = chapter / "101-11.trans.txt"
    lines = trans.read_text().splitlines()
    lines.append("101-11-0000 DUPLICATE ID")
    lines.append("101-11-0009 MISSING AUDIO")
    trans.write_text("\n".join(lines) + "\n")
    shutil.copy(chapter / "101-11-0002.flac", chapter / "101-11-0003.flac")
    (chapter / "101-11.trans.txt").write_text(
        trans.read_text() + "101-11-0003 ?!\n"
    )  # nothing left after normalisation
    out = tmp_path / "m.jsonl"
    report = prepare_librispeech(corpus, out, output_frames=lambda s: 1000)
    assert report.dropped["bad audio"] == 2  # not audio + missing file
    assert report.dropped["duplicate id"] == 1
    assert report.dropped["empty transcript"] == 1
    assert "101-11-0001.flac" in " ".join(report.examples["bad audio"])
    kept = read_manifest(out)
    assert report.kept == len(kept) == 5
    assert report.chars_removed["?"] == 1
    with pytest.raises(ManifestError, match="no usable utterance"):
        prepare_librispeech(corpus, tmp_path / "none.jsonl", output_frames=lambda s: 1)
    report = prepare_librispeech(corpus, tmp_path / "some.jsonl", output_frames=lambda s: 12)
    assert report.dropped["transcript too long for its audio"] >= 1
    kept = read_manifest(tmp_path / "some.jsonl")
    assert kept and all(ctc_min_frames(CharVocab().encode(r["text"])) <= 12 for r in kept)
    assert "too long" in report.summary()


def test_not_librispeech_layout(tmp_path):
    with pytest.raises(ManifestError, match="not a directory"):
        list(iter_librispeech(tmp_path / "missing"))
    with pytest.raises(ManifestError, match="LibriSpeech layout"):
        list(iter_librispeech(tmp_path))


def test_read_manifest_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "audio": "x", "duration": 1, "text": "A", "speaker": "s"}\n{oops\n')
    with pytest.raises(ManifestError, match=r"bad.jsonl:2: not JSON"):
        read_manifest(bad)
    bad.write_text('{"id": "a", "audio": "x"}\n')
    with pytest.raises(ManifestError, match=r"bad.jsonl:1: missing field\(s\) duration, text"):
        read_manifest(bad)
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.jsonl")


def test_generic_listing(corpus, tmp_path):
    listing = tmp_path / "list.tsv"
    flacs = sorted(corpus.rglob("*.flac"))
    rel = [f.relative_to(tmp_path) for f in flacs[:2]]
    listing.write_text(f"# comment\n{rel[0]}\tHello there!\n{rel[1]}\tsecond one\tspk7\n")
    out = tmp_path / "m.jsonl"
    build_manifest(read_listing(listing), out)
    records = read_manifest(out)
    assert [r["text"] for r in records] == ["HELLO THERE", "SECOND ONE"]
    assert records[1]["speaker"] == "spk7" and records[0]["speaker"] == "unknown"


def test_bucket_sampler_caps_padded_seconds_and_covers_everything():
    durations = [0.5 + (i * 7 % 23) / 2 for i in range(200)]
    sampler = DurationBucketSampler(durations, max_batch_seconds=30, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(200))
    for b in batches:
        assert max(durations[i] for i in b) * len(b) <= 30 or len(b) == 1
    assert len(batches) == len(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != batches  # new order each epoch
    assert sorted(map(tuple, sampler)) == sorted(map(tuple, batches))  # same composition


def test_sortagrad_orders_only_the_first_epoch_shortest_first():
    durations = [0.5 + (i * 7 % 23) / 2 for i in range(200)]
    sampler = DurationBucketSampler(durations, max_batch_seconds=30, seed=1, sortagrad=True)
    longest = [max(durations[i] for i in b) for b in sampler]
    assert longest == sorted(longest) and len(set(longest)) > 5  # epoch 0: shortest first
    plain = DurationBucketSampler(durations, max_batch_seconds=30, seed=1)
    assert [max(durations[i] for i in b) for b in plain] != longest
    sampler.set_epoch(1)
    plain.set_epoch(1)
    assert list(sampler) == list(plain)  # later epochs: the usual shuffle
    sampler.load_state_dict({"epoch": 0, "start": 3})  # resumed mid-epoch: the same order
    sampler.set_epoch(0)
    assert [max(durations[i] for i in b) for b in sampler] == longest[3:]


def test_bucket_sampler_shards_across_ranks():
    durations = [1.0 + (i % 13) for i in range(101)]
    shards = [
        list(DurationBucketSampler(durations, 40, seed=3, num_replicas=3, rank=r)) for r in range(3)
    ]
    assert len({len(s) for s in shards}) == 1  # same number of steps on every rank
    flat = [tuple(b) for s in shards for b in s]
    assert len(flat) == len(set(flat))  # disjoint
    val = [
        list(
            DurationBucketSampler(
                durations, 40, shuffle=False, num_replicas=3, rank=r, drop_uneven=False
            )
        )
        for r in range(3)
    ]
    assert sorted(i for s in val for b in s for i in b) == list(range(101))  # nothing dropped


def test_speed_factor_is_drawn_per_batch(corpus, tmp_path):
    """Training keys are (index, epoch, batch): one factor for the whole batch (so its sorted
    utterances stay about equally long), drawn anew per epoch, the same on every call."""
    out = tmp_path / "m.jsonl"
    prepare_librispeech(corpus, out)
    records = read_manifest(out)
    plain = AudioDataset(records, CharVocab())
    perturbed = AudioDataset(records, CharVocab(), speed_perturb=[0.8, 1.0, 1.25], seed=5)
    sampler = DurationBucketSampler([r["duration"] for r in records], 8.0, seed=5,
                                    with_epoch=True)
    assert len(sampler) >= 2 and max(map(len, sampler)) >= 3
    factors = set()
    for epoch in range(6):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert {k[1] for k in batch} == {epoch} and len({k[2] for k in batch}) == 1
            ratios = {round(len(plain[k[0]][0]) / len(perturbed[k][0]), 2) for k in batch}
            assert len(ratios) == 1, batch  # one factor for the whole batch
            factors |= ratios
            assert (perturbed[batch[0]][0] == perturbed[batch[0]][0]).all()
    assert factors == {0.8, 1.0, 1.25}


def test_dataset_and_collate(corpus, tmp_path):
    out = tmp_path / "m.jsonl"
    prepare_librispeech(corpus, out)
    records = read_manifest(out)
    records[1] = {**records[1], "audio": str(tmp_path / "gone.flac")}
    ds = AudioDataset(records, CharVocab())
    assert ds[1] is None  # reported and skipped, not a crash
    batch = collate([ds[0], ds[1], ds[2]])
    assert batch["wave"].shape[0] == 2 and batch["ids"] == [records[0]["id"], records[2]["id"]]
    assert batch["wave_lengths"].max() == batch["wave"].shape[1]
    n0 = batch["wave_lengths"][0]
    assert torch.all(batch["wave"][0, n0:] == 0)
    assert (
        CharVocab().decode(batch["targets"][0, : batch["target_lengths"][0]].tolist())
        == records[0]["text"]
    )
    slow = AudioDataset(records[:1], CharVocab(), speed_perturb=[1.1])[0][0]
    assert abs(len(slow) - len(ds[0][0]) / 1.1) <= 2
    assert json.loads(out.read_text().splitlines()[0])["id"] == records[0]["id"]
