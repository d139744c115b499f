"""The LJSpeech recipe's mixed training manifest: the real clips of a manifest repeated N times,
then the records of any further manifests (the synthetic speech), copied as they are. Each copy of a
real clip after the first gets its own id (``<id>-copy<k>``), as training drops duplicate ids.

    python recipes/ljspeech/mix.py DATA/train.jsonl [DATA/synth.jsonl] --repeat 3 --out MIXED
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def mix(real: Path, repeat: int, extra: list[Path]) -> list[str]:
    """The lines of the mixed manifest, without their newlines."""
    text = real.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in text if line.strip()]
    lines = [
        json.dumps({**r, "id": f"{r['id']}-copy{copy}" if copy else r["id"]})
        for copy in range(repeat)
        for r in records
    ]
    for path in extra:
        lines += path.read_text(encoding="utf-8").splitlines()
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("real", type=Path, help="manifest of the real training clips")
    parser.add_argument("extra", type=Path, nargs="*", help="manifests appended as they are")
    parser.add_argument("--repeat", type=int, default=1, help="copies of each real clip")
    parser.add_argument("--out", type=Path, required=True, help="the mixed manifest")
    args = parser.parse_args(argv)
    lines = mix(args.real, args.repeat, args.extra)
    args.out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


if __name__ == "__main__":
    main()
