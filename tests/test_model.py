import pytest
import torch

from asr.decode import greedy_decode
from asr.features import FeatureConfig
from asr.model import ModelDims, SpeechRecognizer, reverse_padded
from asr.text import BLANK, LIBRISPEECH_CHARS, CharVocab


def make_model(**dims) -> SpeechRecognizer:
    torch.manual_seed(0)
    d = ModelDims(n_input=40, vocab_size=29, hidden=32, layers=2, **dims)
    return SpeechRecognizer(d, FeatureConfig(n_mels=40), list(LIBRISPEECH_CHARS)).eval()


def test_reverse_padded_reverses_within_length():
    x = torch.arange(10.0).reshape(2, 5, 1)
    out = reverse_padded(x, torch.tensor([5, 3]))[..., 0]
    assert out.tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]


@pytest.mark.parametrize("rnn_type", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("frontend", ["stack", "conv"])
def test_padding_never_leaks_into_outputs(rnn_type, frontend):
    model = make_model(rnn_type=rnn_type, frontend=frontend)
    lengths = torch.tensor([16000, 11111, 4000])
    wave = torch.randn(3, 16000) * 0.1
    with torch.no_grad():
        batch_out, batch_lens = model(wave, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone, alone_len = model(wave[i : i + 1, :n], lengths[i : i + 1])
            assert batch_lens[i] == alone_len[0] == model.output_frames(n)
            torch.testing.assert_close(batch_out[i, : batch_lens[i]], alone[0], atol=1e-5, rtol=0)
    assert batch_out.shape[-1] == 29
    assert torch.allclose(batch_out.exp().sum(-1), torch.ones(()), atol=1e-4)


def test_unidirectional_and_dims_validation():
    model = make_model(bidirectional=False)
    assert model.encoder.rnns[0].bwd is None
    with pytest.raises(ValueError, match="rnn_type"):
        ModelDims(rnn_type="transformer")
    with pytest.raises(ValueError, match="vocab_size"):
        SpeechRecognizer(
            ModelDims(n_input=40, vocab_size=10), FeatureConfig(n_mels=40), list(LIBRISPEECH_CHARS)
        )


@pytest.mark.parametrize(
    ("dims", "subsampling"),
    [
        ({}, 3),
        ({"frontend": "conv", "conv_time_strides": [2, 2]}, 4),
        ({"frontend": "conv", "conv_time_strides": [3, 1, 2]}, 6),
    ],
)
def test_model_knows_its_tokens_and_frame_duration(dims, subsampling):
    model = make_model(**dims)
    assert model.tokens == [BLANK, *LIBRISPEECH_CHARS] and len(model.tokens) == 29
    assert model.dims.subsampling == subsampling
    assert model.frame_seconds == pytest.approx(subsampling * 0.01)  # 10 ms hop
    lengths = torch.tensor([16000, 12345, 481, 160])
    with torch.no_grad():
        _, out_lengths = model(torch.zeros(4, 16000), lengths)
    assert out_lengths.tolist() == [model.output_frames(n) for n in lengths.tolist()]


def test_ctc_training_reduces_loss_and_learns_a_tiny_batch():
    torch.manual_seed(0)
    model = make_model(rnn_type="lstm").train()
    model.specaug.time_masks = model.specaug.freq_masks = 0
    vocab = CharVocab()
    texts = ["HI", "NO"]
    # two distinguishable "utterances": tones at different pitches
    t = torch.arange(8000) / 16000
    wave = torch.stack([torch.sin(2 * torch.pi * 300 * t), torch.sin(2 * torch.pi * 1500 * t)])
    lengths = torch.tensor([8000, 8000])
    targets = torch.tensor([vocab.encode(s) for s in texts])
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        log_probs, out_lens = model(wave, lengths)
        loss = ctc(log_probs.transpose(0, 1), targets, out_lens, torch.tensor([2, 2]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    with torch.no_grad():
        log_probs, out_lens = model(wave, lengths)
    assert greedy_decode(log_probs, out_lens, model.tokens) == texts


def test_greedy_decode_merges_repeats_and_drops_blanks():
    tokens = ["", " ", "A", "B"]
    frames = [[2, 2, 0, 2, 3, 1, 1, 3, 0], [1, 3, 3, 0, 0, 0, 0, 0, 0]]
    log_probs = torch.nn.functional.one_hot(torch.tensor(frames), 4).float().log()
    assert greedy_decode(log_probs, torch.tensor([9, 3]), tokens) == ["AAB B", "B"]


def test_conv_frontend_is_the_time_freq_convolution_of_its_weights():
    """The frontend runs on (B, C, F, T) for speed; it must equal the plain convolution of its
    (out, in, time, freq) weights over (B, 1, T, F), batch-normalised (per channel: the same in
    either layout), masked after every layer."""
    from asr.features import lengths_to_mask
    from asr.model import ConvFrontend

    torch.manual_seed(0)
    frontend = ConvFrontend(40, 4, [2, 1]).eval()
    for norm in frontend.norms:  # running statistics that are not the identity
        norm.running_mean.uniform_(-1, 1), norm.running_var.uniform_(0.5, 2)
        norm.weight.data.uniform_(0.5, 2), norm.bias.data.uniform_(-1, 1)
    x, lengths = torch.randn(3, 57, 40), torch.tensor([57, 40, 13])
    ref, ref_lengths = x.unsqueeze(1), lengths
    for conv, norm in zip(frontend.convs, frontend.norms):
        ref = torch.nn.functional.hardtanh(norm(conv(ref)), 0.0, 20.0)
        ref_lengths = (ref_lengths - 1) // conv.stride[0] + 1
        ref = ref * lengths_to_mask(ref_lengths, ref.shape[2])[:, None, :, None]
    out, out_lengths = frontend(x, lengths)
    b, c, t, f = ref.shape
    assert torch.equal(out_lengths, ref_lengths)
    torch.testing.assert_close(out, ref.permute(0, 2, 1, 3).reshape(b, t, c * f))


@pytest.mark.parametrize("layers, bidirectional", [(3, True), (1, False)])
def test_equal_parameter_budget_across_cells(layers, bidirectional):
    """Hidden sizes for rnn, gru and lstm that land within 5 % of the LSTM's parameters."""
    from dataclasses import replace

    from asr.model import Encoder, count_parameters, hidden_for_parameters

    lstm = ModelDims(rnn_type="lstm", hidden=256, layers=layers, bidirectional=bidirectional)
    target = count_parameters(Encoder(lstm))
    sizes = {}
    for cell in ("rnn", "gru", "lstm"):
        dims = replace(lstm, rnn_type=cell)
        sizes[cell] = hidden_for_parameters(dims, target)
        found = count_parameters(Encoder(replace(dims, hidden=sizes[cell])))
        assert abs(found - target) <= 0.05 * target
    assert sizes["lstm"] == 256 and sizes["rnn"] > sizes["gru"] > sizes["lstm"]
