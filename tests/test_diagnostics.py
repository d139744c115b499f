"""Gradient-flow instruments: checked where the answer is known exactly."""

import csv

import numpy as np
import pytest
import torch
from conftest import tiny_run
from torch import nn

from asr.config import load_config
from asr.diagnostics import layer_gradients, temporal_reach
from asr.model import Encoder, ModelDims
from asr.train import fit


def linear_rnn(w: float):
    """h_t = w h_{t-1} + x_t with one unit: dh_T / dx_t = w ** (T - t)."""

    def forward(x, lengths):
        h, out = torch.zeros(x.shape[0], 1), []
        for t in range(x.shape[1]):
            h = w * h + x[:, t, :1]
            out.append(h)
        return torch.stack(out, dim=1), lengths

    return forward


@pytest.mark.parametrize("w", [0.5, 0.9, -0.7])
def test_reach_of_a_linear_rnn_is_w_to_the_lag(w):
    lengths = torch.tensor([12, 9, 12])
    reach = temporal_reach(linear_rnn(w), torch.randn(3, 12, 1), lengths, max_lag=10)
    np.testing.assert_allclose(reach["median"], np.abs(w) ** np.arange(11), rtol=1e-5)
    assert reach["count"].tolist() == [3] * 9 + [2, 2]  # the 9-frame utterance reaches lag 8


def test_a_frame_local_model_has_no_reach_beyond_lag_zero():
    torch.manual_seed(0)
    local = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    reach = temporal_reach(lambda x, n: (local(x), n), torch.randn(4, 20, 5),
                           torch.tensor([20, 15, 11, 20]), max_lag=6)
    assert reach["median"][0] > 0 and np.all(reach["median"][1:] == 0)


def test_reach_counts_input_frames_of_each_output_frame():
    """With frame stacking (3 input frames per output frame) and no recurrence, output frame
    tau reads input frames 3 tau .. 3 tau + 2 only."""
    torch.manual_seed(0)
    dims = ModelDims(n_input=4, vocab_size=5, stack=3, hidden=8, layers=1, bidirectional=False,
                     rnn_type="rnn", dropout=0.0)
    encoder = Encoder(dims).eval()
    for p in encoder.rnns[0].fwd.parameters():  # no recurrence: W_hh = 0
        if p.dim() == 2 and p.shape[0] == p.shape[1]:
            nn.init.zeros_(p)
    reach = temporal_reach(encoder, torch.randn(2, 30, 4), torch.tensor([30, 24]), 4, 3)
    assert reach["median"][0] > 0 and np.all(reach["median"][1:] == 0)
    recurrent = Encoder(dims).eval()  # with recurrence: reach decays but is not zero
    reach = temporal_reach(recurrent, torch.randn(2, 30, 4), torch.tensor([30, 24]), 4, 3)
    assert np.all(reach["median"] > 0)


def test_layer_gradients_cover_valid_frames_only():
    torch.manual_seed(0)
    dims = ModelDims(n_input=6, vocab_size=5, stack=2, hidden=8, layers=2, dropout=0.0)
    encoder = Encoder(dims)
    feats, lengths = torch.randn(2, 20, 6), torch.tensor([20, 12])
    targets = torch.tensor([[1, 2, 3], [2, 4, 0]])

    def loss():
        log_probs, out = encoder(feats, lengths)
        return nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out,
                                      torch.tensor([3, 2]))

    grads = layer_gradients(encoder, loss, list(encoder.rnns))
    assert len(grads) == 2 and all(g.shape == (10,) for g in grads)
    assert all(np.all(g > 0) for g in grads)  # the longer utterance covers all 10 frames


def test_training_logs_the_gradient_norm_and_the_clipped_share(tmp_path):
    cfg, _ = tiny_run(tmp_path)
    fit(load_config(cfg, ["trainer.gradient_clip_val=1e-6"]))
    with open(next((tmp_path / "exp" / "logs").glob("version_*/metrics.csv"))) as f:
        rows = [r for r in csv.DictReader(f) if r.get("grad_norm")]
    assert rows and all(float(r["grad_norm"]) > 1e-6 for r in rows)
    assert float(rows[-1]["clipped_share"]) == 1.0  # every step was cut at 1e-6
