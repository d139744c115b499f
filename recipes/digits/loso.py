"""Leave-one-speaker-out summary of the digits recipe: each fold's digit accuracy (greedy and
with the ten-word lexicon), their mean and the worst fold; writes loso.json beside the folds.

    python recipes/digits/loso.py EXP_DIR/loso
"""

import json
import sys
from pathlib import Path


def main(folds_dir: str) -> None:
    root = Path(folds_dir)
    rows = {}
    for fold in sorted(p for p in root.iterdir() if p.is_dir()):
        acc = {}
        for name, sub in (("greedy", "eval_test"), ("lexicon", "eval_test_lexicon")):
            path = fold / sub / "accuracy.json"
            if not path.is_file():
                sys.exit(f"{path}: not found (fold {fold.name} was not evaluated)")
            acc[name] = json.loads(path.read_text())["accuracy"]
        rows[fold.name] = acc
    if not rows:
        sys.exit(f"{root}: no folds")
    summary = {"folds": rows}
    print(f"{'test speaker':<14}{'greedy':>10}{'lexicon':>10}")
    for speaker, acc in rows.items():
        print(f"{speaker:<14}{100 * acc['greedy']:>9.2f}%{100 * acc['lexicon']:>9.2f}%")
    for name in ("greedy", "lexicon"):
        values = {s: a[name] for s, a in rows.items()}
        worst = min(values, key=values.get)
        summary[name] = {"mean": sum(values.values()) / len(values), "worst_fold": worst,
                         "worst": values[worst]}
    print(f"{'mean':<14}{100 * summary['greedy']['mean']:>9.2f}%"
          f"{100 * summary['lexicon']['mean']:>9.2f}%")
    print(f"worst fold: greedy {summary['greedy']['worst_fold']} "
          f"{100 * summary['greedy']['worst']:.2f} %, lexicon "
          f"{summary['lexicon']['worst_fold']} {100 * summary['lexicon']['worst']:.2f} %")
    (root / "loso.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
