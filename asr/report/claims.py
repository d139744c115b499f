"""The RNN study's claims table: each claim people make about recurrent networks, the study's
evidence for it, and a verdict computed by a fixed rule (never written by hand).

A WER difference counts only when it exceeds the noise level: the largest spread of test WER
between seeds of one cell (at least one point). Verdicts: "holds", "does not hold", "mixed" (the
parts of the evidence disagree) or "not measured". Runs that diverged or failed count as worse
than any finished run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

REACH_LAG = 25  # output frames: 1 s at 40 ms
INF = math.inf

Groups = dict[str, list[dict]]


def wer(run: dict) -> float:
    """Test WER; a diverged, failed or unmeasured run is worse than any other."""
    return run["test_wer"] if run["test_wer"] is not None else INF


def _pts(x: float) -> str:
    return "diverged/failed" if x == INF else f"{100 * x:.1f} %"


def noise_level(cell_runs: list[dict]) -> float:
    """The largest test-WER spread between the seeds of one cell, at least 0.01."""
    by_cell: dict[str, list[float]] = {}
    for r in cell_runs:
        if r["test_wer"] is not None:
            by_cell.setdefault(r["factors"]["cell"], []).append(r["test_wer"])
    return max([max(v) - min(v) for v in by_cell.values() if len(v) > 1] + [0.01])


def _by(runs: list[dict], factor: str, **fixed) -> dict:
    return {r["factors"][factor]: r for r in runs
            if all(r["factors"][k] == v for k, v in fixed.items())}


def _cell_means(g: Groups) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for r in g["cells"]:
        out.setdefault(r["factors"]["cell"], []).append(wer(r))
    return {c: sum(v) / len(v) for c, v in out.items()}


def _verdict(parts: list[bool]) -> str:
    return "holds" if all(parts) else "does not hold" if not any(parts) else "mixed"


def _reach_ratio(run: dict | None, when: str) -> float | None:
    """Median reach at REACH_LAG over reach at lag 0 (1: no decay)."""
    reach = (run or {}).get("reach")
    if not reach:
        return None
    median = reach[when]["median"]
    return median[REACH_LAG] / median[0] if median[0] else None


def vanishing(g: Groups, speed, noise) -> tuple[str, str]:
    rnn = _by(g["direction"], "cell", bidirectional=False).get("rnn")
    ratios = {w: _reach_ratio(rnn, w) for w in ("init", "trained")}
    if None in ratios.values():
        return "no unidirectional simple-RNN run with reach measured", "not measured"
    parts = [r < 1e-2 for r in ratios.values()]
    return (f"unidirectional simple RNN: the top layer's sensitivity to input {REACH_LAG} frames "
            f"(1 s) back is {ratios['init']:.1e} of lag 0 at initialisation, "
            f"{ratios['trained']:.1e} trained (rule: below 1e-2 means vanished)"), _verdict(parts)


def gates(g: Groups, speed, noise) -> tuple[str, str]:
    uni = _by(g["direction"], "cell", bidirectional=False)
    means = _cell_means(g)
    if not {"rnn", "gru", "lstm"} <= set(means):
        return "the three cells were not all trained", "not measured"
    reach = {c: _reach_ratio(uni.get(c), "trained") for c in ("rnn", "gru", "lstm")}
    better_wer = [means[c] < means["rnn"] - noise for c in ("gru", "lstm")]
    parts = list(better_wer)
    text = (f"test WER (mean over seeds): rnn {_pts(means['rnn'])}, gru {_pts(means['gru'])}, "
            f"lstm {_pts(means['lstm'])}")
    if None not in reach.values():
        parts += [reach[c] > reach["rnn"] for c in ("gru", "lstm")]
        text += "; reach at 1 s, trained: " + ", ".join(f"{c} {v:.1e}" for c, v in reach.items())
    return text, _verdict(parts)


def gru_matches(g: Groups, speed, noise) -> tuple[str, str]:
    m = _cell_means(g)
    if not {"gru", "lstm"} <= set(m):
        return "no GRU and LSTM runs", "not measured"
    diff = m["gru"] - m["lstm"]
    return (f"gru {_pts(m['gru'])} vs lstm {_pts(m['lstm'])}: {100 * diff:+.1f} points "
            f"(noise {100 * noise:.1f})"), _verdict([abs(diff) <= noise])


def gru_cheaper(g: Groups, speed, noise) -> tuple[str, str]:
    rows = {(r["budget"], r["cell"]): r for r in (speed or {}).get("rows", [])}
    pairs = [(b, rows.get((b, "gru")), rows.get((b, "lstm")))
             for b in ("equal hidden size", "equal parameters")]
    pairs = [(b, x, y) for b, x, y in pairs if x and y]
    if not pairs:
        return "speed not measured", "not measured"
    text = "; ".join(f"{b}: training gru {x['train_audio_per_second']:.0f} vs lstm "
                     f"{y['train_audio_per_second']:.0f} audio-s/s, RTF {x['rtf']:.4f} vs "
                     f"{y['rtf']:.4f}" for b, x, y in pairs)
    parts = [x["train_audio_per_second"] > y["train_audio_per_second"] for _, x, y in pairs]
    return text + f" ({speed['threads']} CPU threads)", _verdict(parts)


def stacking(g: Groups, speed, noise) -> tuple[str, str]:
    parts, text = [], []
    for cell in sorted({r["factors"]["cell"] for r in g["depth"]}):
        by = _by(g["depth"], "layers", cell=cell)
        if 1 not in by or len(by) < 2:
            continue
        deeper = min(wer(r) for n, r in by.items() if n > 1)
        parts.append(deeper < wer(by[1]) - noise)
        text.append(f"{cell}: " + ", ".join(
            f"{n} layer{'s' * (n > 1)} {_pts(wer(by[n]))}" for n in sorted(by)))
    return ("; ".join(text) or "no depth runs"), (_verdict(parts) if parts else "not measured")


def bidirectional(g: Groups, speed, noise) -> tuple[str, str]:
    parts, text = [], []
    for cell in sorted({r["factors"]["cell"] for r in g["direction"]}):
        by = _by(g["direction"], "bidirectional", cell=cell)
        if len(by) == 2:
            parts.append(wer(by[True]) < wer(by[False]) - noise)
            text.append(f"{cell}: bi {_pts(wer(by[True]))} vs uni {_pts(wer(by[False]))}")
    return ("; ".join(text) or "no runs"), (_verdict(parts) if parts else "not measured")


def clipping(g: Groups, speed, noise) -> tuple[str, str]:
    parts, text = [], []
    for cell in sorted({r["factors"]["cell"] for r in g["clipping"]}):
        by = _by(g["clipping"], "clip", cell=cell)
        off = by.get(None)
        on = [r for c, r in by.items() if c is not None]
        if off is None or not on:
            continue
        trouble = (off["steps"] or {}).get("explosions", 0) + (off["steps"] or {}).get(
            "loss_spikes", 0) + (off["steps"] or {}).get("skipped_steps", 0)
        best_on = min(wer(r) for r in on)
        parts += [trouble > 0 or off["status"] == "diverged", best_on < wer(off) - noise]
        text.append(f"{cell}: without clipping {_pts(wer(off))}, {trouble} explosions + loss "
                    f"spikes + skipped steps; clipped " + ", ".join(
                        f"at {c:g}: {_pts(wer(r))}" for c, r in by.items() if c is not None))
    return ("; ".join(text) or "no runs"), (_verdict(parts) if parts else "not measured")


def dropout(g: Groups, speed, noise) -> tuple[str, str]:
    by = _by(g["dropout"], "dropout")
    rates = sorted(by)
    gaps = [by[p].get("loss_gap") for p in rates]
    if len(rates) < 2 or None in gaps:
        return "no dropout runs", "not measured"
    shrinks = all(a > b for a, b in zip(gaps, gaps[1:]))
    helps = min(wer(by[p]) for p in rates[1:]) < wer(by[rates[0]]) - noise
    text = ", ".join(f"dropout {p:g}: gap {gap:+.3f}, WER {_pts(wer(by[p]))}"
                     for p, gap in zip(rates, gaps))
    return text, _verdict([shrinks, helps])


def tuning(factor: str, unit: str) -> Callable:
    def rule(g: Groups, speed, noise) -> tuple[str, str]:
        by = _by(g[factor], factor)
        if len(by) < 2:
            return "fewer than two values", "not measured"
        wers = {v: wer(r) for v, r in by.items()}
        best, worst = min(wers, key=wers.get), max(wers, key=wers.get)
        text = ", ".join(f"{v:g}{unit}: {_pts(w)}" for v, w in sorted(wers.items()))
        return f"{text}; best {best:g}{unit}", _verdict([wers[worst] - wers[best] > noise])

    return rule


def length(g: Groups, speed, noise) -> tuple[str, str]:
    by = _by(g["length"], "max_duration")
    full, capped = by.get(None), next((r for c, r in by.items() if c is not None), None)
    if not full or not capped or not full.get("buckets") or not capped.get("buckets"):
        return "no capped run measured", "not measured"
    pairs = [(a["bucket"], a["wer"], b["wer"]) for a, b in zip(full["buckets"],
                                                               capped["buckets"]) if a["wer"]]
    (_, f_short, c_short), (_, f_long, c_long) = pairs[0], pairs[-1]
    hurts_long = c_long - f_long > noise
    grows = (c_long - f_long) > (c_short - f_short)
    text = (f"capped at {capped['factors']['max_duration']:g} s vs full length: " + ", ".join(
        f"{b}: {_pts(c)} vs {_pts(f)}" for b, f, c in pairs))
    return text, _verdict([hurts_long, grows])


CLAIM_RULES: list[tuple[str, Callable]] = [
    ("The simple RNN's gradient vanishes over time", vanishing),
    ("Gates (LSTM, GRU) fix it: they reach further back and recognise better", gates),
    ("A GRU is as accurate as an LSTM", gru_matches),
    ("A GRU is cheaper to train than an LSTM", gru_cheaper),
    ("Stacking layers helps (at equal parameters)", stacking),
    ("Bidirectionality helps", bidirectional),
    ("Gradient clipping tames exploding gradients", clipping),
    ("Dropout curbs overfitting", dropout),
    ("The learning rate needs tuning", tuning("lr", "")),
    ("The batch size needs tuning", tuning("batch", " s")),
    ("Training only on short utterances hurts long ones", length),
]


def judge(rule: tuple[str, Callable], groups: Groups, speed: dict | None,
          noise: float) -> dict:
    claim, fn = rule
    evidence, verdict = fn(groups, speed, noise)
    return {"claim": claim, "evidence": evidence, "verdict": verdict}
