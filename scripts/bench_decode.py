"""Benchmark decoding on one CPU core: greedy vs beam search + n-gram LM, flashlight-text vs
pyctcdecode, on the same log-probs (the acoustic model runs once).

    .venv/bin/python scripts/bench_decode.py --checkpoint CKPT --manifest TEST.jsonl \\
        --lm LM.arpa [--lm-binary LM.bin] [--beam-size 50] [--limit 200]

Prints LM load times, then per decoder: decode ms per utterance, decode-only RTF, full RTF
(acoustic model + decoding, one thread) and WER. alpha/beta come from ``<lm>.tuned.json`` when
it was tuned for that backend (``asr lm tune``), else from --alpha/--beta per backend.
pyctcdecode is optional: ``pip install --no-deps pyctcdecode pygtrie kenlm`` (its numpy<2 pin
is why it is not a project dependency).
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import torch

from asr.data.manifest import read_manifest
from asr.decode import BeamSearchDecoder, GreedyDecoder
from asr.evaluation import forward_log_probs
from asr.recognizer import load_model
from asr.score import word_errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--lm", required=True, help="ARPA LM")
    p.add_argument("--lm-binary", help="the same LM as a KenLM binary (load time comparison)")
    p.add_argument("--beam-size", type=int, default=50)
    p.add_argument("--limit", type=int, default=None, help="first N utterances only")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model(args.checkpoint, "cpu")
    records = read_manifest(args.manifest)[: args.limit]
    refs = {r["id"]: r["text"] for r in records}
    audio = sum(r["duration"] for r in records)
    start = time.perf_counter()
    utts = [
        (i, lp[:n].contiguous())
        for ids, log_probs, lengths in forward_log_probs(model, records, 30.0)
        for i, lp, n in zip(ids, log_probs, lengths.tolist())
    ]
    acoustic = time.perf_counter() - start
    tokens = model.tokens
    print(f"{len(utts)} utterances, {audio:.1f} s of audio; acoustic model {acoustic:.2f} s "
          f"(RTF {acoustic / audio:.4f}, {args.threads} thread(s))")

    backends = ["flashlight"]
    if importlib.util.find_spec("pyctcdecode") and importlib.util.find_spec("kenlm"):
        backends.append("pyctcdecode")
    decoders = {"greedy": GreedyDecoder(tokens),
                f"beam {args.beam_size}, no LM (flashlight)":
                    BeamSearchDecoder(tokens, beam_size=args.beam_size)}
    print("\nLM load (includes the lexicon trie for flashlight):")
    for backend in backends:
        for path in filter(None, [args.lm_binary, args.lm]):  # the ARPA one (tuned) decodes
            d = BeamSearchDecoder(tokens, lm=path, beam_size=args.beam_size, backend=backend)
            print(f"  {backend:12s} {path}: {d.load_seconds:.2f} s")
        decoders[f"beam {args.beam_size} + LM ({backend}, a={d.alpha:g} b={d.beta:g})"] = d

    print(f"\n| decoder | ms / utt | decode RTF | total RTF | WER | S / D / I |\n|{'---|' * 6}")
    for name, decoder in decoders.items():
        hyps, start = [], time.perf_counter()
        for _, lp in utts:
            hyps.extend(decoder(lp[None], torch.tensor([len(lp)])))
        spent = time.perf_counter() - start
        w = word_errors([refs[i] for i, _ in utts], hyps)
        print(f"| {name} | {1000 * spent / len(utts):.1f} | {spent / audio:.4f} | "
              f"{(acoustic + spent) / audio:.4f} | {100 * w.rate:.2f} % | "
              f"{w.substitutions} / {w.deletions} / {w.insertions} |")


if __name__ == "__main__":
    main()
