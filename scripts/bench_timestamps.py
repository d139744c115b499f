"""Word timestamp accuracy of a trained model against known word positions.

    python scripts/bench_timestamps.py --checkpoint CKPT [--files 6] [--words 25] [--seed 0]

Builds files by concatenating single-word espeak-ng clips (words of the project's grammar,
spoken by voices held out of training) with random pauses; ``asr.data.engines.synthesize`` trims
each clip to exactly 0.15 s of silence either side of the speech (-40 dB), so every word's true
start and end are known. Then measures:

- *recognized*: ``transcribe_files`` (greedy, 30 s windows) and the words it got right
  (matched to the truth in order), the |error| of their start and end times;
- *forced*: the same file's log-probs aligned to the true text (``asr.align``), which
  separates alignment accuracy from recognition errors.

Prints mean / median / 95th percentile / max |error| in ms and the share within 100 ms.
"""

from __future__ import annotations

import argparse
import difflib
import random
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.align import word_timestamps
from asr.audio import load_audio
from asr.data.engines import KEEP_SILENCE_S, SAMPLE_RATE, list_voices, split_voices, synthesize
from asr.data.sentences import grammar_vocabulary
from asr.recognizer import load_model
from asr.transcription import transcribe_files


def build(path: Path, words: list[str], voice: str, rng: random.Random) -> list[tuple]:
    """Write the clips of ``words`` with pauses to ``path``; return [(WORD, start, end)]."""
    pieces, truth, now = [np.zeros(SAMPLE_RATE // 2, np.float32)], [], 0.5
    for word in words:
        clip = synthesize(word, voice, rate=rng.randint(140, 190), pitch=rng.randint(30, 70))
        truth.append(
            (word.upper(), now + KEEP_SILENCE_S, now + len(clip) / SAMPLE_RATE - KEEP_SILENCE_S)
        )
        gap = np.zeros(int(rng.uniform(0.0, 0.6) * SAMPLE_RATE), np.float32)
        pieces += [clip, gap]
        now += (len(clip) + len(gap)) / SAMPLE_RATE
    sf.write(path, np.concatenate(pieces), SAMPLE_RATE)
    return truth


def errors(found, truth) -> list[tuple[float, float]]:
    """(start error, end error) in seconds of each found word matched to the truth in order."""
    a, b = [w.word for w in found], [t[0] for t in truth]
    out = []
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            w, t = found[block.a + k], truth[block.b + k]
            out.append((w.start - t[1], w.end - t[2]))
    return out


def report(name: str, errs: list[tuple[float, float]], total: int) -> None:
    if not errs:
        print(f"{name:10s}: no word matched the truth (of {total})")
        return
    e = np.abs(np.array(errs))
    for i, edge in enumerate(["start", "end"]):
        x = 1000 * e[:, i]
        print(
            f"{name:10s} {edge:5s}: {len(errs)}/{total} words, |error| mean {x.mean():.0f} ms, "
            f"median {np.median(x):.0f}, p95 {np.percentile(x, 95):.0f}, max {x.max():.0f}; "
            f"within 100 ms {100 * (x <= 100).mean():.1f} %"
        )
    bias = 1000 * np.array(errs).mean(axis=0)
    print(f"{name:10s} mean signed error: start {bias[0]:+.0f} ms, end {bias[1]:+.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="checkpoint or exported model")
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--words", type=int, default=25, help="words per file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/bench_timestamps")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    vocab = [w for w in grammar_vocabulary() if len(w) > 1]
    _, test_voices = split_voices(list_voices())
    recognizer = load_model(args.checkpoint)
    tokens = recognizer.tokens

    truths, paths = [], []
    for i in range(args.files):
        paths.append(work / f"words_{i}.wav")
        words = rng.sample(vocab, args.words)
        truths.append(build(paths[-1], words, rng.choice(test_voices), rng))
    total = sum(len(t) for t in truths)

    recognized, forced = [], []
    for (path, t), truth in zip(transcribe_files(recognizer, paths, progress=False), truths):
        recognized += errors(t.words, truth)
        wave = load_audio(path)
        log_probs, lengths = recognizer(wave[None], np.array([wave.size]))
        text = " ".join(w for w, _, _ in truth)
        aligned = word_timestamps(
            log_probs[0, : int(lengths[0])], text, tokens, recognizer.frame_seconds
        )
        forced += errors(aligned, truth)
    print(f"{args.files} files, {total} words, voices held out of training, {args.checkpoint}")
    report("recognized", recognized, total)
    report("forced", forced, total)


if __name__ == "__main__":
    main()
