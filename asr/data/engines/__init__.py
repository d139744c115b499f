"""Speech synthesizers for `asr synth` (asr.data.synth): one module and class per engine
(`ENGINES`), each on `base.Engine`.

Each engine lists its voices (each voice is one speaker of a corpus) and speaks a text with a
rate and pitch given on espeak-ng's scales, which it maps to its own controls; every engine
returns float32 mono 16 kHz audio with the silence around the speech trimmed. espeak-ng
(formant synthesis): English accents x voice variants; flite: the CMU voices kal16, awb, rms,
slt; piper (optional): a neural VITS voice; festival: pseudo-speakers of one HMM voice;
RHVoice and pico (Debian non-free, optional): four and two voices.
`select_engines` picks the installed ones;
`split_engine_voices` holds whole voices out for test subsets.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence

from asr.data.engines.base import KEEP_SILENCE_S, PITCH_RANGE, RATE_RANGE, SAMPLE_RATE, Engine
from asr.data.engines.espeak import (
    INSTALL_HINT,
    EspeakEngine,
    list_voices,
    split_voices,
    synthesize,
)
from asr.data.engines.festival import FestivalEngine
from asr.data.engines.flite import FliteEngine
from asr.data.engines.pico import PicoEngine
from asr.data.engines.piper import PiperEngine
from asr.data.engines.rhvoice import RHVoiceEngine
from asr.data.sentences import SynthError

__all__ = [
    "DEFAULT_ENGINES",
    "ENGINES",
    "KEEP_SILENCE_S",
    "PITCH_RANGE",
    "RATE_RANGE",
    "SAMPLE_RATE",
    "Engine",
    "engine_of",
    "list_voices",
    "select_engines",
    "split_engine_voices",
    "split_voices",
    "synthesize",
]

log = logging.getLogger(__name__)


ENGINES: dict[str, Engine] = {
    e.name: e for e in (EspeakEngine(), FliteEngine(), PiperEngine(), FestivalEngine(),
                         RHVoiceEngine(), PicoEngine())
}
DEFAULT_ENGINES = ("espeak-ng",)


def engine_of(voice: str) -> str:
    """The engine of a voice spec: the part before ``:``, espeak-ng when there is none."""
    return voice.partition(":")[0] if ":" in voice else "espeak-ng"


def select_engines(names: Iterable[str]) -> list[Engine]:
    """The installed engines among `names`; log one line for each missing one.

    Raises SynthError for an unknown name, and when none of them is installed.
    """
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in names if n not in ENGINES]
    if unknown or not names:
        raise SynthError(f"--engines: unknown engine(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(ENGINES)}")
    present = [ENGINES[n] for n in names if ENGINES[n].available()]
    if not present:
        if names == ["espeak-ng"]:
            raise SynthError(INSTALL_HINT)
        raise SynthError("none of the synthesis engines in --engines is installed: " + "; ".join(
            f"{n} ({ENGINES[n].install_hint})" for n in names))
    for engine in (ENGINES[n] for n in names if ENGINES[n] not in present):
        log.warning("synth: engine %s is not installed, skipping it (install: %s)", engine.name,
                    engine.install_hint)
    return present


def split_engine_voices(engines: Sequence[Engine], n_test_variants: int = 2,
                        seed: int = 0) -> tuple[list[str], list[str]]:
    """Split the voices of `engines` into (train, test).

    espeak-ng holds out `n_test_variants` whole variants (`split_voices`); every other engine
    holds out its `test_voices` whole voices, picked with the seed.
    """
    train: list[str] = []
    test: list[str] = []
    for engine in engines:
        voices = engine.voices()
        if isinstance(engine, EspeakEngine):
            held = set(split_voices(voices, n_test_variants, seed)[1])
        else:
            held = set(random.Random(f"{seed}/{engine.name}").sample(voices, engine.test_voices))
        train += [v for v in voices if v not in held]
        test += [v for v in voices if v in held]
    return train, test
