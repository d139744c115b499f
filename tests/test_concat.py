"""Several utterances in a row (``data.concat``): grouping, joining, draws, config checks, exact
resume; and the benchmark that measures it (scripts/bench_in_a_row.py). CPU, seconds."""

from __future__ import annotations

import importlib.util
from collections import Counter

import numpy as np
import pytest
from conftest import REPO, assert_resumes_exactly, make_librispeech, tiny_run

from asr.audio import load_audio
from asr.config import ConcatConfig, ConfigError, load_config
from asr.data.dataset import AudioDataset, DurationBucketSampler, group_records
from asr.data.librispeech import prepare_librispeech
from asr.data.loader import ASRDataModule
from asr.data.manifest import read_manifest
from asr.text import LIBRISPEECH_CHARS, CharVocab, ctc_min_frames

RATE = 16000


def fake_records(n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        {"id": f"u{k}", "audio": f"/x/u{k}.flac", "duration": float(rng.uniform(1, 5)),
         "text": f"WORD {chr(65 + k % 26)}", "speaker": f"s{k % 3}"}
        for k in range(n)
    ]


def test_groups_cover_every_record_once_with_sizes_within_range():
    records = fake_records(200)
    cfg = ConcatConfig(max_utterances=3, pause_min=0.2, pause_max=0.6, edge_max=0.4)
    groups = group_records(records, cfg, seed=5)
    parts = [p["id"] for g in groups for p in g["parts"]]
    assert sorted(parts) == sorted(r["id"] for r in records)  # each record exactly once
    sizes = Counter(len(g["parts"]) for g in groups)
    assert set(sizes) == {1, 2, 3}  # every size occurs, none above the maximum
    for g in groups:
        k = len(g["parts"])
        assert g["id"] == "+".join(p["id"] for p in g["parts"])
        assert g["text"] == " ".join(p["text"] for p in g["parts"])
        assert g["audio"] == g["parts"][0]["audio"]
        speech = sum(p["duration"] for p in g["parts"])
        assert g["duration"] == pytest.approx(speech + (k - 1) * 0.4 + 0.4)  # expected silence
    # fixed by the seed: the same groups again, other groups from another seed
    assert [g["id"] for g in group_records(records, cfg, seed=5)] == [g["id"] for g in groups]
    assert [g["id"] for g in group_records(records, cfg, seed=6)] != [g["id"] for g in groups]


def test_groups_close_before_max_duration_and_ctc_limits():
    records = fake_records(300)
    cfg = ConcatConfig(max_utterances=4, pause_min=0.1, pause_max=0.5, edge_max=0.2)
    groups = group_records(records, cfg, seed=1, max_duration=7.0)
    assert sorted(p["id"] for g in groups for p in g["parts"]) == sorted(r["id"] for r in records)
    for g in groups:
        k = len(g["parts"])
        longest = sum(p["duration"] for p in g["parts"]) + (k - 1) * 0.5 + 2 * 0.2
        assert k == 1 or longest <= 7.0
    assert max(len(g["parts"]) for g in groups) >= 2  # the limit does not forbid every group

    # CTC: 3 output frames per second leaves room for about one 9-character text per group
    vocab = CharVocab()
    frames = lambda s: int(3 * s)  # noqa: E731
    groups = group_records(records, cfg, seed=1, encode=vocab.encode, output_frames=frames)
    for g in groups:
        k = len(g["parts"])
        shortest = sum(p["duration"] for p in g["parts"]) + (k - 1) * 0.1
        assert k == 1 or ctc_min_frames(vocab.encode(g["text"])) <= frames(shortest)
    unlimited = group_records(records, cfg, seed=1)
    assert len(groups) > len(unlimited)  # some groups were closed early


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "train.jsonl"
    prepare_librispeech(make_librispeech(tmp_path / "corpus", utts=3), path)
    return path


def test_joined_item_is_the_parts_with_silences_drawn_per_epoch(manifest):
    records = read_manifest(manifest)
    cfg = ConcatConfig(max_utterances=3, pause_min=0.1, pause_max=0.8, edge_max=0.3)
    groups = group_records(records, cfg, seed=0)
    g = max(range(len(groups)), key=lambda i: len(groups[i]["parts"]))
    parts = groups[g]["parts"]
    assert len(parts) >= 2
    vocab = CharVocab()
    dataset = AudioDataset(groups, vocab, RATE, seed=0, concat=cfg)
    waves = [load_audio(p["audio"], RATE) for p in parts]

    wave, tokens, rec = dataset[(g, 0)]
    assert wave.dtype == np.float32
    assert rec["text"] == " ".join(p["text"] for p in parts)
    assert tokens == vocab.encode(rec["text"])
    # the parts appear in order, separated by exact zeros of pause_min..pause_max seconds
    pos, gaps = 0, []
    for w in waves:
        start = pos + int(np.flatnonzero(wave[pos:])[0])
        assert np.array_equal(wave[start : start + w.size], w)
        gaps.append(start - pos)
        assert not wave[pos:start].any()
        pos = start + w.size
    gaps.append(wave.size - pos)
    assert not wave[pos:].any()
    assert wave.size == sum(w.size for w in waves) + sum(gaps)
    assert all(0 <= e <= 0.3 * RATE + 1 for e in (gaps[0], gaps[-1]))
    assert all(0.1 * RATE - 1 <= p <= 0.8 * RATE + 1 for p in gaps[1:-1])

    again, _, _ = dataset[(g, 0)]
    assert np.array_equal(again, wave)  # a function of (seed, epoch, index)
    other = [dataset[(g, e)][0] for e in (1, 2)]
    assert all(o.size != wave.size for o in other)  # new pauses every epoch
    assert not np.array_equal(AudioDataset(groups, vocab, RATE, seed=1, concat=cfg)[(g, 0)][0],
                              wave)


def test_a_part_that_fails_to_load_skips_the_group_naming_the_file(manifest, caplog):
    records = read_manifest(manifest)
    records[1]["audio"] = "/nonexistent/missing.flac"
    groups = group_records(records, ConcatConfig(max_utterances=len(records)), seed=0)
    bad = next(i for i, g in enumerate(groups) if records[1] in g["parts"])
    dataset = AudioDataset(groups, CharVocab(), RATE, concat=ConcatConfig(max_utterances=2))
    assert dataset[(bad, 0)] is None
    assert "/nonexistent/missing.flac" in caplog.text and groups[bad]["id"] in caplog.text


def batches(data: ASRDataModule, train: bool, epoch: int = 0) -> list[dict]:
    loader = data.train_dataloader() if train else data.val_dataloader()
    loader.batch_sampler.set_epoch(epoch)
    return list(loader)


def test_training_batches_hold_groups_and_validation_stays_single(manifest):
    chars = list(LIBRISPEECH_CHARS)
    plain = ASRDataModule(str(manifest), str(manifest), chars, num_workers=0, max_batch_seconds=8)
    concat = ASRDataModule(str(manifest), str(manifest), chars, num_workers=0,
                           max_batch_seconds=8, concat={"max_utterances": 3})
    ids = sorted(r["id"] for r in read_manifest(manifest))
    # default: the manifest's records, batched and loaded as without the option
    records = read_manifest(manifest)
    sampler = DurationBucketSampler([r["duration"] for r in records], 8, seed=0)
    a = batches(plain, True)
    assert [x["ids"] for x in a] == [[records[i]["id"] for i in b] for b in sampler]
    assert a[0]["wave"][0, : a[0]["wave_lengths"][0]].numpy().tolist() == load_audio(
        records[next(iter(sampler))[0]]["audio"]).tolist()
    assert all(r.keys() == {"id", "audio", "duration", "text", "speaker"}
               for r in plain.train_dataloader().dataset.records)
    # on: every utterance once per epoch, some in groups; validation untouched
    for epoch in (0, 1):
        got = [i for x in batches(concat, True, epoch) for i in x["ids"]]
        assert sorted(p for i in got for p in i.split("+")) == ids
        assert any("+" in i for i in got)
    assert [x["ids"] for x in batches(concat, False)] == [x["ids"] for x in batches(plain, False)]


def test_config_errors_name_the_key(tmp_path):
    cfg, _ = tiny_run(tmp_path)
    assert load_config(cfg).data.concat.max_utterances == 1  # off by default
    for override, key in [
        ("data.concat.max_utterances=0", "data.concat.max_utterances: must be >= 1"),
        ("data.concat.pause_min=0.9", r"data.concat.pause_min: must be <= pause_max \(0.8\)"),
        ("data.concat.pause_min=-0.1", "data.concat.pause_min: must be >= 0"),
        ("data.concat.edge_max=-1", "data.concat.edge_max: must be >= 0"),
        ("data.concat.pauses=1", "data.concat.pauses: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=key):
            load_config(cfg, [override])


def test_concat_run_stopped_mid_epoch_resumes_exactly(tmp_path):
    cfg, _ = tiny_run(tmp_path)
    common = ["trainer.max_epochs=2", "checkpoint.every_n_steps=1", "data.max_batch_seconds=8",
              "data.concat.max_utterances=3", "data.concat.edge_max=0.2",
              "data.speed_perturb=[0.9,1.0,1.1]"]
    assert assert_resumes_exactly(cfg, common, tmp_path) >= 2


def test_bench_in_a_row_prints_every_condition(trained, tmp_path, capsys):
    ckpt, val = trained
    spec = importlib.util.spec_from_file_location("bench_in_a_row",
                                                  REPO / "scripts" / "bench_in_a_row.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "result.json"
    result = bench.main(["--checkpoint", str(ckpt), "--manifest", str(val), "--minutes", "0",
                         "--chunk-seconds", "4", "--overlap-seconds", "1", "--json", str(out)])
    n = len(read_manifest(val))
    rows = {r["condition"]: r for r in result["rows"]}
    assert list(rows) == ["one by one", "groups of 2", "groups of 4", "one file"]
    assert [rows[c]["files"] for c in rows] == [n, -(-n // 2), -(-n // 4), 1]
    words = {r["words"] for r in rows.values()}
    assert len(words) == 1 and words.pop() > 0  # the same references in every condition
    for r in rows.values():
        assert r["wer"] >= 0 and r["wer"] * r["words"] == pytest.approx(
            r["substitutions"] + r["deletions"] + r["insertions"])
    printed = capsys.readouterr().out
    assert all(f"| {c} |" in printed for c in rows) and out.is_file()
    # --minutes takes the first utterances up to that much audio, at least one
    first = bench.select(read_manifest(val), 1e-6)
    assert len(first) == 1
