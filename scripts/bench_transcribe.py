"""Benchmark `asr transcribe`: real-time factor on one CPU core and peak memory on a long file.

    python scripts/bench_transcribe.py --checkpoint CKPT --corpus recipes/mini/corpus/test \
        [--minutes 60] [--rtf-minutes 5] [--short-minutes 10] [--work /tmp/bench_transcribe]
        [--onnx] [--cli {checkpoint,onnx,int8}] [--lm LM]

1. Builds a long file by tiling the corpus's utterances (LibriSpeech layout, with transcripts)
   with 0.3 s pauses, streamed to FLAC (never held whole), plus its reference text.
2. RTF in this process, one thread (``torch.set_num_threads(1)``), greedy, on the first
   ``--rtf-minutes`` minutes (model, windows, decoding, alignment, stitching; file reading
   included); with ``--onnx`` also through onnxruntime on one thread, float and int8
   (``asr export --int8``), with the WER of each against the references. The same file decoded
   in one piece: the words and times that the 30 s windows change. With ``--lm``, also beam
   search with that LM (flashlight-text, alpha/beta from ``<lm>.tuned.json`` when there):
   RTF and WER of the same file.
3. The whole CLI as a user runs it on the long file, pinned to one core
   (``taskset -c 0 asr transcribe --threads 1 --output-dir ...`` under ``/usr/bin/time -v``):
   wall time, RTF, peak resident memory; and the WER of the one-file transcript against the
   tiled references (words lost or duplicated at window seams would show up here).
4. The CLI on many short files: the corpus's utterances up to ``--short-minutes`` (as 16 kHz
   FLAC files, whatever the corpus's own encoding), one
   ``asr transcribe`` call over all of them, pinned to one core (start-up included): wall time,
   RTF, peak memory, WER against their transcripts.
``--cli onnx`` / ``int8``: the CLI runs (3, 4) use that export instead of the checkpoint.
Prints one line per figure. The files are written under ``--work`` (not to the repository).
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr.audio import load_audio
from asr.data.librispeech import iter_librispeech
from asr.recognizer import load_model
from asr.score import word_errors
from asr.transcription import transcribe_files

PAUSE_S = 0.3


def build_long_file(corpus: Path, minutes: float, out: Path) -> tuple[float, str]:
    """Tile the corpus into ``out`` (16 kHz FLAC) up to ``minutes``; return (seconds, text)."""
    utts = [(audio, text) for _, audio, text, _ in iter_librispeech(corpus)]
    target, written, refs = minutes * 60 * 16000, 0, []
    pause = np.zeros(int(PAUSE_S * 16000), np.float32)
    with sf.SoundFile(out, "w", 16000, 1, format="FLAC", subtype="PCM_16") as f:
        i = 0
        while written < target:
            audio, text = utts[i % len(utts)]
            wave = load_audio(audio)
            f.write(np.concatenate([wave, pause]))
            written += wave.size + pause.size
            refs.append(text)
            i += 1
    return written / 16000, " ".join(refs)


def rtf_in_process(model: str, audio: Path, seconds: float, **kw) -> tuple[float, float, list]:
    """(wall-clock RTF, CPU-time RTF, words): CPU time is less sensitive to a busy machine."""
    torch.set_num_threads(1)
    recognizer = load_model(model, "cpu", threads=1)
    start, cpu = time.perf_counter(), time.process_time()
    [(_, transcript)] = list(transcribe_files(recognizer, [audio], progress=False, **kw))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall / seconds, cpu / seconds, transcript.words


def compare(chunked: list, whole: list) -> str:
    """Word differences and time differences between two transcriptions of one file."""
    a, b = [w.word for w in chunked], [w.word for w in whole]
    wer = word_errors([" ".join(b)], [" ".join(a)])
    same = [
        (chunked[m.a + k], whole[m.b + k])
        for m in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks()
        for k in range(m.size)
    ]
    dt = np.array([[x.start - y.start, x.end - y.end] for x, y in same]).reshape(-1, 2)
    return (
        f"{len(a)} vs {len(b)} words, WER between them {100 * wer.rate:.2f} % "
        f"(S={wer.substitutions} D={wer.deletions} I={wer.insertions}); matched words: "
        f"max |start diff| {1000 * np.abs(dt[:, 0]).max(initial=0):.0f} ms, "
        f"max |end diff| {1000 * np.abs(dt[:, 1]).max(initial=0):.0f} ms"
    )


def wer_figure(refs: list[str], hyps: list[str]) -> str:
    """``WER vs references 12.34 % (S=.. D=.. I=.. of N)``."""
    wer = word_errors(refs, hyps)
    return (f"WER vs references {100 * wer.rate:.2f} % "
            f"(S={wer.substitutions} D={wer.deletions} I={wer.insertions} of {wer.ref_len})")


def cli_run(model: str, audio: list[Path], out_dir: Path) -> dict:
    asr = str(Path(sys.executable).with_name("asr"))
    cmd = ["/usr/bin/time", "-v", "taskset", "-c", "0", asr, "transcribe", *map(str, audio),
           "--model", model, "--threads", "1", "--output-dir", str(out_dir)]  # fmt: skip
    shown = cmd if len(audio) < 4 else [*cmd[:7], f"<{len(audio)} files>", *cmd[7 + len(audio):]]
    print("$", " ".join(shown), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stderr[-2000:])

    def field(name: str) -> float:
        return float(re.search(rf"{re.escape(name)}: ([\d.]+)", proc.stderr).group(1))

    return {
        "wall": wall,
        "cpu": field("User time (seconds)") + field("System time (seconds)"),
        "peak_rss_mib": field("Maximum resident set size (kbytes)") / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="checkpoint (or exported model)")
    ap.add_argument("--corpus", required=True, help="LibriSpeech-layout subset to tile")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rtf-minutes", type=float, default=5.0)
    ap.add_argument("--work", default="/tmp/bench_transcribe")
    ap.add_argument("--short-minutes", type=float, default=10.0,
                    help="the CLI on this many minutes of the corpus's files, one call")
    ap.add_argument("--onnx", action="store_true",
                    help="also time the ONNX export, float and int8")
    ap.add_argument("--cli", choices=["checkpoint", "onnx", "int8"], default="checkpoint",
                    help="the model the CLI runs use")
    ap.add_argument("--lm", help="also time beam search with this n-gram LM (ARPA or binary)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    short = work / f"speech_{args.rtf_minutes:g}min.flac"
    seconds, short_ref = build_long_file(Path(args.corpus), args.rtf_minutes, short)

    def short_wer(found: list) -> str:  # the words found in `short` against its references
        return wer_figure([short_ref], [" ".join(w.word for w in found)])

    rtf, cpu, words = rtf_in_process(args.checkpoint, short, seconds)
    print(f"RTF (1 thread, PyTorch, greedy, {seconds / 60:.1f} min): {rtf:.4f} (CPU {cpu:.4f})")
    rtf, cpu, whole = rtf_in_process(args.checkpoint, short, seconds, chunk_seconds=0)
    print(f"RTF unchunked (one pass over the file): {rtf:.4f} (CPU time {cpu:.4f})")
    print(f"chunked (30 s / 5 s overlap) vs unchunked: {compare(words, whole)}")
    for name, found in (("chunked", words), ("unchunked", whole)):
        print(f"{name}: {short_wer(found)}")
    if args.lm:
        from asr.decode import BeamSearchDecoder

        tokens = load_model(args.checkpoint).tokens
        started = time.perf_counter()
        decoder = BeamSearchDecoder(tokens, args.lm)
        load = time.perf_counter() - started
        rtf, cpu, found = rtf_in_process(args.checkpoint, short, seconds, decoder=decoder)
        print(
            f"RTF (1 thread, PyTorch, beam {decoder.config}): {rtf:.4f} (CPU time {cpu:.4f}), "
            f"LM load {load:.2f} s; {short_wer(found)}"
        )
    cli_model = args.checkpoint
    if args.onnx or args.cli != "checkpoint":
        from asr.checkpoint import load_network
        from asr.export import export_model

        network = load_network(args.checkpoint)
        for kind, int8 in (("onnx", False), ("int8", True)):
            if not args.onnx and args.cli != kind:
                continue  # neither timed nor used by the CLI runs
            onnx = export_model(network, work / f"model.{kind}.onnx", "onnx", int8=int8)
            if args.cli == kind:
                cli_model = str(onnx)
            if args.onnx:
                rtf, cpu, found = rtf_in_process(str(onnx), short, seconds)
                print(f"RTF (1 thread, onnxruntime, {kind}, greedy): {rtf:.4f} (CPU time "
                      f"{cpu:.4f}); {short_wer(found)}")

    long = work / f"speech_{args.minutes:g}min.flac"
    seconds, ref = build_long_file(Path(args.corpus), args.minutes, long)
    out_dir = work / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    run = cli_run(cli_model, [long], out_dir)
    hyp = (out_dir / f"{long.stem}.txt").read_text().replace("\n", " ")
    report(f"CLI on {seconds / 60:.1f} min, one file (1 core)", run, seconds, [ref], [hyp])

    files, refs, seconds = [], [], 0.0
    (work / "short").mkdir(exist_ok=True)
    for uid, audio, text, _ in iter_librispeech(Path(args.corpus)):
        if seconds >= args.short_minutes * 60:
            break
        wave = load_audio(audio)  # as 16 kHz FLAC, LibriSpeech's own format
        files.append(work / "short" / f"{uid}.flac")
        sf.write(files[-1], wave, 16000, format="FLAC", subtype="PCM_16")
        refs.append(text)
        seconds += wave.size / 16000
    shutil.rmtree(out_dir, ignore_errors=True)
    run = cli_run(cli_model, files, out_dir)
    hyps = [(out_dir / f"{f.stem}.txt").read_text().replace("\n", " ").strip() for f in files]
    report(f"CLI on {len(files)} files, {seconds / 60:.1f} min (1 core)", run, seconds, refs,
           hyps)


def report(name: str, run: dict, seconds: float, refs: list[str], hyps: list[str]) -> None:
    print(
        f"{name}: wall {run['wall']:.1f} s, RTF {run['wall'] / seconds:.4f} (CPU time "
        f"{run['cpu'] / seconds:.4f}), peak RSS {run['peak_rss_mib']:.0f} MiB, "
        f"{wer_figure(refs, hyps)}"
    )


if __name__ == "__main__":
    main()
