"""Gradient flow, measured: how far back in time a recurrent model's output still depends on its
input (the vanishing gradient), how the loss gradient reaches each recurrent layer over time,
and the gradient norm of every training step (exploding gradients, and what clipping cut).

- `temporal_reach`: for output frame tau of each utterance, the norm of d y_tau / d x at the
  input frames of output frame tau - k, for lags k = 0..K; median and quartiles over a batch.
  Measure it on unidirectional models, where the recurrence is the only path backwards in time.
  An exponential decay is a straight line on a log scale.
- `layer_gradients`: the norm of dLoss/dh_t of each recurrent layer's output h_t over t.

Training logs the gradient norm of every step before clipping (``grad_norm``) and the share of
steps that clipping cut (``clipped_share``): `asr.callbacks.GradNormMonitor`. Nothing here
needs Lightning; the functions take plain modules.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

Forward = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def temporal_reach(
    forward: Forward, feats: Tensor, lengths: Tensor, max_lag: int, subsampling: int = 1
) -> dict[str, np.ndarray]:
    """Sensitivity of the output at each utterance's last frame to earlier input frames.

    Args:
        forward: ``(x (B, T, F), lengths (B,)) -> (y (B, T', D), out_lengths (B,))``, e.g. an
            `asr.model.Encoder` (log-probs) or a stack of recurrent layers.
        feats, lengths: a batch of input features and their lengths.
        max_lag: the largest lag K, in output frames.
        subsampling: input frames per output frame (the frontend's stride; output frame t
            reads input frames t * s ... t * s + s - 1).
    Returns:
        ``{"lags": (K + 1,), "median", "q1", "q3": (K + 1,), "count": (K + 1,)}``: for lag k, the
        norm of d(sum_d y[b, tau_b, d]) / d x over the input frames of output frame tau_b - k,
        tau_b the last valid output frame of utterance b; statistics over the utterances long
        enough for that lag (NaN where there are none).
    """
    x = feats.detach().clone().requires_grad_(True)
    y, out_lengths = forward(x, lengths)
    last = out_lengths.long() - 1
    picked = y[torch.arange(y.shape[0]), last]  # (B, D)
    (grad,) = torch.autograd.grad(picked.sum(), x)  # each utterance's own tau: rows separate
    norms = np.full((y.shape[0], max_lag + 1), np.nan)
    for b, tau in enumerate(last.tolist()):
        for k in range(min(max_lag, tau) + 1):
            start = (tau - k) * subsampling
            norms[b, k] = grad[b, start : start + subsampling].norm().item()
    with np.errstate(all="ignore"):
        q1, median, q3 = np.nanpercentile(norms, [25, 50, 75], axis=0)
    return {
        "lags": np.arange(max_lag + 1),
        "median": median,
        "q1": q1,
        "q3": q3,
        "count": np.sum(~np.isnan(norms), axis=0),
    }


def layer_gradients(
    model: nn.Module, loss_fn: Callable[[], Tensor], layers: list[nn.Module]
) -> list[np.ndarray]:
    """dLoss/dh_t of each layer's output, over t.

    Runs ``loss_fn()`` (a forward pass of `model` and its loss) with hooks on `layers` (e.g.
    ``encoder.rnns``), then backward. Returns per layer an array (T',): the norm of the loss
    gradient with respect to the layer's output at frame t, summed over the batch."""
    outputs: list[Tensor] = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        outputs.append(output)

    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        model.zero_grad(set_to_none=True)
        loss_fn().backward()
    finally:
        for h in handles:
            h.remove()
    return [h.grad.norm(dim=-1).sum(dim=0).cpu().numpy() for h in outputs]
