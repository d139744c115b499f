"""The RNN study (recipes/rnn-study): simple RNN vs GRU vs LSTM and the usual claims about
them (vanishing gradients, stacking, bidirectionality, clipping, dropout, tuning), measured with
the toolkit's own training runs.

- `asr.study.plan`: the runs (one factor changed at a time, at an equal parameter budget);
- `asr.study.runner`: trains the runs that are not finished, a few processes side by side;
- `asr.study.measure`: test WER (per epoch for the cells), temporal reach and dLoss/dh_t at
  initialisation and trained, training and transcription speed per cell;
- the report: `asr.report.study`.
"""
