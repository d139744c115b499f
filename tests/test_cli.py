"""The `asr` command as a user runs it (the recipes end to end: test_recipes.py)."""

import json
import subprocess
import sys

import pytest
from conftest import WORDS

from asr.data.manifest import read_manifest


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "asr.cli", *args], capture_output=True, text=True, timeout=300, **kw
    )


def test_transcribe_good_and_bad_files(trained, tmp_path):
    ckpt, val = trained
    audio = [r["audio"] for r in read_manifest(val)][:2]
    missing = tmp_path / "missing.wav"
    fake = tmp_path / "notes.wav"
    fake.write_text("these are not samples")
    proc = run("transcribe", *audio, str(missing), str(fake), "--checkpoint", str(ckpt), "--json")
    assert proc.returncode == 1  # some inputs failed
    assert f"{missing}: file not found" in proc.stderr
    assert f"{fake}: not an audio file" in proc.stderr
    results = json.loads(proc.stdout)
    assert [r["audio"] for r in results] == audio
    assert all(isinstance(r["text"], str) and r["duration"] > 0 for r in results)

    proc = run("transcribe", audio[0], "--checkpoint", str(ckpt))
    assert proc.returncode == 0 and proc.stdout.count("\n") == 1


def test_evaluate_cli_and_bad_checkpoint(trained, tmp_path):
    ckpt, val = trained
    proc = run(
        "evaluate",
        "--checkpoint",
        str(ckpt),
        "--manifest",
        str(val),
        "--out-dir",
        str(tmp_path / "eval"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "WER" in proc.stdout and "S=" in proc.stdout
    summary = json.loads((tmp_path / "eval" / "wer.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "eval" / "hyps.jsonl").open()]
    assert len(rows) == summary["utterances"] == len(read_manifest(val))
    assert sum(r["errors"] for r in rows) == summary["words"]["errors"]
    assert [r["errors"] for r in rows] == sorted((r["errors"] for r in rows), reverse=True)

    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    proc = run("transcribe", read_manifest(val)[0]["audio"], "--checkpoint", str(bad))
    assert proc.returncode == 2 and f"{bad}: truncated or not a checkpoint" in proc.stderr


def test_config_errors_are_one_line(tmp_path):
    proc = run("train", "--config", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2 and "nope.yaml: config file not found" in proc.stderr


@pytest.mark.slow  # three beam-search evaluations through the CLI: ~25 s
def test_decode_section_of_a_config_sets_the_decoder_and_options_win(trained, tmp_path):
    ckpt, val = trained
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n")
    cfg = tmp_path / "decode.yaml"
    cfg.write_text(f"decode:\n  type: beam\n  lexicon: {words}\n  beam_size: 8\n")
    common = ["evaluate", "--checkpoint", str(ckpt), "--manifest", str(val)]
    proc = run(*common, "--out-dir", str(tmp_path / "a"), "--decode-config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    decoder = json.loads((tmp_path / "a" / "wer.json").read_text())["decoder"]
    assert decoder["type"] == "beam" and decoder["beam_size"] == 8
    assert decoder["lexicon"] == str(words)
    hyps = [json.loads(line)["hyp"] for line in (tmp_path / "a" / "hyps.jsonl").open()]
    assert all(set(h.split()) <= set(WORDS) for h in hyps)  # the lexicon is applied

    proc = run(*common, "--out-dir", str(tmp_path / "b"), "--decode-config", str(cfg),
               "--beam-size", "4")
    assert json.loads((tmp_path / "b" / "wer.json").read_text())["decoder"]["beam_size"] == 4
    proc = run(*common, "--out-dir", str(tmp_path / "c"), "--decode-config", str(cfg),
               "--decoder", "greedy")
    assert json.loads((tmp_path / "c" / "wer.json").read_text())["decoder"] == {"type": "greedy"}


def test_decoding_and_window_options_come_from_their_dataclasses(tmp_path):
    """`asr transcribe`/`evaluate` have one option per `DecodeConfig` and `WindowConfig` field
    (the old names kept); given options override the ``decode:`` section of --decode-config,
    and --lm or --lexicon alone means beam search."""
    from dataclasses import fields

    from asr.cli import build_parser
    from asr.cli.recognize import decode_config
    from asr.decode import DecodeConfig
    from asr.transcription import WindowConfig

    parser = build_parser()
    args = parser.parse_args(["transcribe", "a.wav", "--checkpoint", "c.ckpt"])
    assert decode_config(args) == DecodeConfig()
    assert {f.name: getattr(args, f.name) for f in fields(WindowConfig)} == vars(WindowConfig())
    cfg = tmp_path / "decode.yaml"
    cfg.write_text("decode:\n  type: beam\n  beam_size: 8\n  beta: 2.0\n")
    args = parser.parse_args(
        ["evaluate", "--checkpoint", "c.ckpt", "--manifest", "m", "--out-dir", "o",
         "--decode-config", str(cfg), "--lm-backend", "pyctcdecode", "--beam-size", "3",
         "--beam-threshold", "9", "--alpha", "0.7", "--lm", "lm.arpa", "--lexicon", "w.txt"])
    assert decode_config(args) == DecodeConfig(
        type="beam", backend="pyctcdecode", lm="lm.arpa", lexicon="w.txt", beam_size=3,
        beam_threshold=9.0, alpha=0.7, beta=2.0)
    args = parser.parse_args(["transcribe", "a.wav", "--checkpoint", "c", "--lexicon", "w"])
    assert decode_config(args).type == "beam"
    args = parser.parse_args(["transcribe", "a.wav", "--checkpoint", "c", "--lexicon", "w",
                              "--decoder", "greedy", "--chunk-seconds", "12"])
    assert decode_config(args).type == "greedy" and args.chunk_seconds == 12.0
    assert {f.name for f in fields(DecodeConfig)} <= set(vars(args))
