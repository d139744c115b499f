"""Digit accuracy from `asr evaluate`'s hyps.jsonl: an utterance is right when its hypothesis is
exactly the digit's word. Prints accuracy, per-digit accuracy and the most frequent confusions;
writes accuracy.json beside hyps.jsonl.

    python recipes/digits/accuracy.py EVAL_DIR/hyps.jsonl
"""

import json
import sys
from collections import Counter
from pathlib import Path


def main(path: str) -> None:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    right = Counter(r["ref"] for r in rows if r["hyp"] == r["ref"])
    total = Counter(r["ref"] for r in rows)
    confusions = Counter((r["ref"], r["hyp"] or "<empty>") for r in rows if r["hyp"] != r["ref"])
    acc = sum(right.values()) / max(len(rows), 1)
    print(f"digit accuracy {100 * acc:.2f} % ({sum(right.values())} / {len(rows)})")
    print("per digit: " + ", ".join(f"{d} {100 * right[d] / n:.0f}%" for d, n in total.items()))
    if confusions:
        print("confusions: " + ", ".join(f"{r}->{h} x{n}" for (r, h), n in
                                         confusions.most_common(8)))
    out = Path(path).with_name("accuracy.json")
    summary = {
        "accuracy": acc,
        "correct": sum(right.values()),
        "utterances": len(rows),
        "per_digit": {d: right[d] / n for d, n in total.items()},
        "confusions": [[r, h, n] for (r, h), n in confusions.most_common()],
    }
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"accuracy summary: {out}")


if __name__ == "__main__":
    main(sys.argv[1])
