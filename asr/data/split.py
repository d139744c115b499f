"""Speaker-disjoint dev/test splits for corpora that have none (Mini LibriSpeech's train-clean-5,
a TSV listing with a speaker column).

`choose_speakers` picks the held-out speakers deterministically from a seed: each gender's
speakers in a seeded order, the genders taken in turn (the larger first), so the held-out sets
are as balanced as the counts allow; test speakers are chosen before dev speakers. Genders come
from LibriSpeech's ``SPEAKERS.TXT`` (`read_speaker_genders`) when there is one; speakers without
one form a group of their own. `split_manifest` writes ``train/dev/test.jsonl`` by speaker, so no
voice is heard in two of them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from asr.data.manifest import ManifestError, read_manifest, write_manifest

SPLITS = ("train", "dev", "test")


def read_speaker_genders(path: str | Path) -> dict[str, str]:
    """``{speaker id: "F" | "M"}`` from a LibriSpeech ``SPEAKERS.TXT`` (``ID | SEX | ...``
    lines; ``;`` starts a comment)."""
    genders = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        fields = [f.strip() for f in line.split("|")]
        if line.startswith(";") or len(fields) < 2 or not fields[0]:
            continue
        genders[fields[0]] = fields[1].upper()
    return genders


def _order(seed: int, speaker: str) -> str:
    return hashlib.sha256(f"{seed}:{speaker}".encode()).hexdigest()


def choose_speakers(
    speakers: Sequence[str],
    n_dev: int,
    n_test: int,
    genders: Mapping[str, str] | None = None,
    seed: int = 0,
) -> dict[str, list[str]]:
    """``{"train": [...], "dev": [...], "test": [...]}``: `n_test` and `n_dev` held-out speakers
    (gender-balanced when `genders` knows them), the rest train; deterministic for a seed.

    At least one speaker must remain for training; ValueError otherwise.
    """
    unique = sorted(set(speakers))
    if n_dev < 0 or n_test < 0:
        raise ValueError(f"speaker counts must be >= 0, got dev {n_dev}, test {n_test}")
    if n_dev + n_test >= len(unique):
        raise ValueError(
            f"{len(unique)} speakers: too few to hold out {n_dev} dev and {n_test} test "
            "speakers and keep one for training"
        )
    genders = genders or {}
    groups: dict[str, list[str]] = defaultdict(list)
    for spk in unique:
        groups[genders.get(spk, "?")].append(spk)
    queues = sorted(
        (sorted(g, key=lambda s: _order(seed, s)) for g in groups.values()),
        key=lambda g: (-len(g), g[0]),
    )
    interleaved = []  # one of each gender in turn, the larger group first
    for i in range(max(len(q) for q in queues)):
        interleaved += [q[i] for q in queues if i < len(q)]
    test, dev = interleaved[:n_test], interleaved[n_test:n_test + n_dev]
    held = set(test) | set(dev)
    return {"train": [s for s in unique if s not in held], "dev": sorted(dev),
            "test": sorted(test)}


def split_manifest(
    manifests: Sequence[str | Path],
    out_dir: str | Path,
    n_dev: int,
    n_test: int,
    genders: Mapping[str, str] | None = None,
    seed: int = 0,
) -> dict[str, Path]:
    """Write ``<out_dir>/{train,dev,test}.jsonl`` from the records of `manifests`, split by
    speaker (`choose_speakers`) and ``<out_dir>/speakers.txt`` (``split<TAB>speaker<TAB>gender``);
    return ``{split: path}``. Records keep their order."""
    records = [rec for m in manifests for rec in read_manifest(m)]
    speakers = [str(rec["speaker"]) for rec in records]
    try:
        chosen = choose_speakers(speakers, n_dev, n_test, genders, seed)
    except ValueError as err:
        raise ManifestError(f"{', '.join(map(str, manifests))}: {err}") from None
    which = {spk: split for split, spks in chosen.items() for spk in spks}
    out_dir = Path(out_dir)
    paths = {}
    for split in SPLITS:
        if split != "train" and not chosen[split]:
            continue
        paths[split] = write_manifest(
            (r for r in records if which[str(r["speaker"])] == split), out_dir / f"{split}.jsonl"
        )
    lines = [f"{split}\t{spk}\t{(genders or {}).get(spk, '?')}"
             for split in SPLITS for spk in chosen[split]]
    (out_dir / "speakers.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths
