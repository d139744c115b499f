"""`asr export` (ONNX, TorchScript) parity with PyTorch, and `asr transcribe` on exported
models and to output files, as a user runs them."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_writers import parse_srt, parse_vtt

from asr.audio import load_audio
from asr.checkpoint import CheckpointError, load_network
from asr.cli import main
from asr.data.manifest import read_manifest
from asr.evaluation import evaluate
from asr.export import export_model
from asr.features import FeatureConfig
from asr.model import ModelDims, SpeechRecognizer
from asr.recognizer import OnnxRecognizer, TorchRecognizer, load_model
from asr.text import BLANK, LIBRISPEECH_CHARS

# runs the CLI in a process where importing Lightning fails
NO_LIGHTNING = (
    "import sys; sys.modules['lightning'] = sys.modules['pytorch_lightning'] = None; "
    "from asr.cli import main; sys.exit(main(sys.argv[1:]))"
)
# ... and importing torch too: an ONNX model is transcribed without either
NO_TORCH = NO_LIGHTNING.replace("= None;", "= sys.modules['torch'] = None;")


def asr(capsys, *args: str) -> subprocess.CompletedProcess:
    """`asr ARGS` in this process (fast); stdout/stderr captured."""
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def asr_without_lightning(*args: str, torch_too: bool = False) -> subprocess.CompletedProcess:
    """`asr ARGS` in a fresh process where importing Lightning (and torch) fails."""
    code = NO_TORCH if torch_too else NO_LIGHTNING
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )


def cli_export(capsys, ckpt, fmt: str, out) -> None:
    proc = asr(capsys, "export", "--checkpoint", str(ckpt), "--format", fmt, "--out", str(out))
    assert proc.returncode == 0 and "exported:" in proc.stdout, proc.stderr


def padded_batch(manifest, n: int = 3) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    paths = [r["audio"] for r in read_manifest(manifest)][:n]
    waves = [load_audio(p) for p in paths]
    wave = torch.zeros(len(waves), max(w.size for w in waves))
    for row, w in zip(wave, waves):
        row[: w.size] = torch.from_numpy(w)
    return wave, torch.tensor([w.size for w in waves]), paths


def max_diff(a, b, lengths) -> float:
    valid = torch.arange(a.shape[1])[None, :, None] < lengths[:, None, None]
    return float(((a - b).abs() * valid).max())


def test_onnx_parity_and_transcribe_without_torch(trained, tmp_path, capsys):
    ckpt, val = trained
    onnx_path = tmp_path / "model.onnx"
    cli_export(capsys, ckpt, "onnx", onnx_path)
    wave, lengths, paths = padded_batch(val)
    assert lengths.unique().numel() == len(paths)  # really padded
    model = load_network(ckpt)
    with torch.no_grad():
        ref, ref_lengths = model(wave, lengths)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got, got_lengths = session.run(
        None, {"wave": wave.numpy(), "wave_lengths": lengths.numpy().astype(np.int64)}
    )
    assert got.shape == tuple(ref.shape) and np.array_equal(got_lengths, ref_lengths.numpy())
    assert max_diff(torch.from_numpy(got), ref, ref_lengths) < 1e-4
    meta = json.loads(session.get_modelmeta().custom_metadata_map["asr"])
    assert meta["vocab"] == model.vocab and meta["frame_seconds"] == 0.03

    for decoder in ("greedy", "beam"):  # greedy, and the lexicon-free beam (flashlight-text)
        args = (*paths, "--decoder", decoder, "--json")
        by_ckpt = asr(capsys, "transcribe", *args, "--checkpoint", str(ckpt))
        by_onnx = asr_without_lightning("transcribe", *args, "--model", str(onnx_path),
                                        torch_too=True)
        assert by_onnx.returncode == 0, by_onnx.stderr
        # the same texts and the same word times (forced alignment) as from the checkpoint
        want = [[(w["word"], w["start"], w["end"]) for s in r["segments"] for w in s["words"]]
                for r in json.loads(by_ckpt.stdout)]
        got = [[(w["word"], w["start"], w["end"]) for s in r["segments"] for w in s["words"]]
               for r in json.loads(by_onnx.stdout)]
        assert got == want and any(want), decoder
    broken = asr_without_lightning("transcribe", *paths, "--checkpoint", str(ckpt),
                                   torch_too=True)
    assert broken.returncode != 0  # the check above can fail: a checkpoint needs torch


def test_torchscript_parity(trained, tmp_path, capsys):
    ckpt, val = trained
    out = tmp_path / "model.pt"
    cli_export(capsys, ckpt, "torchscript", out)
    wave, lengths, paths = padded_batch(val)
    with torch.no_grad():
        ref, ref_lengths = load_network(ckpt)(wave, lengths)
        got, got_lengths = torch.jit.load(str(out))(wave, lengths)
    assert torch.equal(got_lengths, ref_lengths)
    assert max_diff(got, ref, ref_lengths) < 1e-4
    proc = asr(capsys, "transcribe", paths[0], "--model", str(out))
    assert proc.returncode == 0 and proc.stdout.count("\n") == 1, proc.stderr


def test_one_loading_path_for_checkpoints_torchscript_and_onnx(trained, tmp_path):
    """``load_model`` reads all three formats into recognizers that agree on tokens, frame
    duration, log-probs and evaluation results; evaluate records the file it came from."""
    ckpt, val = trained
    module = load_network(ckpt)
    files = {
        "checkpoint": ckpt,
        "torchscript": export_model(module, tmp_path / "m.pt", "torchscript"),
        "onnx": export_model(module, tmp_path / "m.onnx", "onnx"),
    }
    wave, lengths, _ = padded_batch(val)
    ref, ref_lengths = TorchRecognizer(module)(wave, lengths)
    hyps = {}
    for name, path in files.items():
        model = load_model(path)
        assert isinstance(model, OnnxRecognizer if name == "onnx" else TorchRecognizer)
        assert model.tokens == [BLANK, *module.vocab] == module.tokens
        assert model.frame_seconds == module.frame_seconds == 0.03
        assert model.sample_rate == 16000 and model.dims == module.dims
        got, got_lengths = model(wave.numpy(), lengths.numpy())
        # PyTorch models give tensors, ONNX numpy arrays (no torch needed); decoders take both
        assert isinstance(got, np.ndarray if name == "onnx" else torch.Tensor)
        got, got_lengths = torch.as_tensor(got), torch.as_tensor(got_lengths)
        assert torch.equal(got_lengths.long(), ref_lengths)
        assert max_diff(got, ref, ref_lengths) < 1e-4
        summary = evaluate(model, val, tmp_path / name)
        assert summary["checkpoint"]["path"] == str(path)
        hyps[name] = (tmp_path / name / "hyps.jsonl").read_text()
    assert hyps["onnx"] == hyps["torchscript"] == hyps["checkpoint"]
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="junk.onnx"):
        load_model(junk)


def test_transcribe_writes_every_format(trained, tmp_path, capsys):
    ckpt, val = trained
    paths = [r["audio"] for r in read_manifest(val)][:2]
    out = tmp_path / "out"
    proc = asr(capsys, "transcribe", *paths, "--checkpoint", str(ckpt), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    for p in paths:
        stem = p.rsplit("/", 1)[1].rsplit(".", 1)[0]
        assert {f.name for f in out.glob(f"{stem}.*")} == {
            f"{stem}.{ext}" for ext in ("txt", "json", "srt", "vtt", "tsv")
        }
        doc = json.loads((out / f"{stem}.json").read_text())
        assert doc["audio"] == p and doc["model"] == str(ckpt) and doc["decoder"] == "greedy"
        srt = parse_srt((out / f"{stem}.srt").read_text()) if doc["segments"] else []
        vtt = parse_vtt((out / f"{stem}.vtt").read_text())
        assert len(srt) == len(vtt) == len(doc["segments"])

    proc = asr(capsys, "transcribe", *paths, "--checkpoint", str(ckpt), "--format", "srt")
    assert proc.returncode == 2 and "needs --output-dir" in proc.stderr
    proc = asr(capsys, "transcribe", paths[0], "--checkpoint", str(ckpt), "--format", "vtt")
    assert proc.returncode == 0 and proc.stdout.startswith("WEBVTT")


@pytest.mark.parametrize(
    "dims",
    [
        {"frontend": "stack", "stack": 2, "rnn_type": "lstm", "normalize": "global"},
        {"frontend": "conv", "conv_channels": 4, "rnn_type": "gru", "normalize": "utterance"},
    ],
)
def test_export_parity_across_architectures(dims, tmp_path):
    """Untrained models of both frontends: ONNX and TorchScript give PyTorch's log-probs on a
    padded batch whose lengths differ from the export example's."""
    torch.manual_seed(0)
    dims = dict(dims)
    feats = FeatureConfig(n_mels=40, normalize=dims.pop("normalize"))
    model = SpeechRecognizer(
        ModelDims(n_input=40, hidden=24, layers=2, **dims), feats, LIBRISPEECH_CHARS
    ).eval()
    model.features.set_cmvn(torch.randn(40), torch.rand(40) + 0.5)
    lengths = torch.tensor([7001, 23456, 16000, 333])
    wave = torch.randn(4, 23456) * 0.2
    with torch.no_grad():
        ref, ref_lengths = model(wave, lengths)
    onnx_path = export_model(model, tmp_path / "m.onnx", "onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got, got_lengths = session.run(None, {"wave": wave.numpy(), "wave_lengths": lengths.numpy()})
    assert np.array_equal(got_lengths, ref_lengths.numpy())
    assert max_diff(torch.from_numpy(got), ref, ref_lengths) < 1e-4
    scripted = torch.jit.load(str(export_model(model, tmp_path / "m.pt", "torchscript")))
    with torch.no_grad():
        got, got_lengths = scripted(wave, lengths)
    assert torch.equal(got_lengths, ref_lengths) and max_diff(got, ref, ref_lengths) < 1e-4


def test_int8_onnx_is_smaller_close_and_transcribes_the_same(trained, tmp_path, capsys):
    """`asr export --int8`: quantised LSTM and linear weights (DynamicQuantizeLSTM, MatMulInteger
    nodes), a smaller file, the metadata kept, log-probs close to the float model's on any CPU,
    and `asr transcribe` running it."""
    import onnx

    ckpt, val = trained
    full, small = tmp_path / "model.onnx", tmp_path / "model.int8.onnx"
    cli_export(capsys, ckpt, "onnx", full)
    proc = asr(capsys, "export", "--checkpoint", str(ckpt), "--out", str(small), "--int8")
    assert proc.returncode == 0 and "(onnx, int8)" in proc.stdout, proc.stderr
    assert not list(tmp_path.glob("*.tmp"))
    ops = {node.op_type for node in onnx.load(str(small)).graph.node}
    assert {"DynamicQuantizeLSTM", "MatMulInteger"} <= ops and "LSTM" not in ops
    assert small.stat().st_size < full.stat().st_size  # (the DFT basis of the features stays)
    recognizer = load_model(small)
    assert recognizer.vocab == load_network(ckpt).vocab
    wave, lengths, paths = padded_batch(val)
    with torch.no_grad():
        ref, ref_lengths = load_network(ckpt)(wave, lengths)
    got, got_lengths = map(torch.from_numpy, recognizer(wave, lengths))
    assert torch.equal(got_lengths, ref_lengths)
    # quantised: close, not equal. Without 7-bit weights (reduce_range) an AVX2 CPU without VNNI
    # gave 0.10 here (products saturating int16), and transcripts of this barely trained
    # model, all near-ties between letters, 46 % apart; with them 0.008
    assert 0 < max_diff(got, ref, ref_lengths) < 0.04
    proc = asr(capsys, "transcribe", *paths, "--model", str(small), "--json")
    # the CLI runs the int8 model as the API does (in the same batches: the activations are
    # quantised per call, over the batch)
    assert [r["text"] for r in json.loads(proc.stdout)] == [
        t.text for _, t in recognizer.transcribe_files(paths)]


def test_int8_is_for_onnx_only(trained, tmp_path, capsys):
    ckpt, _ = trained
    proc = asr(capsys, "export", "--checkpoint", str(ckpt), "--format", "torchscript",
               "--out", str(tmp_path / "m.pt"), "--int8")
    assert proc.returncode == 2 and "--int8 is for --format onnx" in proc.stderr
    assert not (tmp_path / "m.pt").exists()


def test_without_the_export_extra_one_line_says_what_to_install(trained, tmp_path, capsys):
    """A venv without [export] (the main job's set-up): `asr export` and `asr transcribe` of an
    ONNX model end with one line naming the missing package, not a traceback."""
    ckpt, val = trained
    onnx_path = tmp_path / "m.onnx"
    cli_export(capsys, ckpt, "onnx", onnx_path)
    for blocked, args in (
        ("onnx", ["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "n.onnx")]),
        ("onnxruntime", ["transcribe", read_manifest(val)[0]["audio"], "--model", str(onnx_path)]),
    ):
        code = (f"import sys; sys.modules[{blocked!r}] = None; "
                "from asr.cli import main; sys.exit(main(sys.argv[1:]))")
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"asr {args[0]}: error: ONNX models need {blocked}, which is not installed: "
            f"pip install 'asr[export]' (or pip install {blocked})"]
