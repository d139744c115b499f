"""The WER report of an evaluation and the comparison of two (`asr report`, `asr compare`,
`asr evaluate --report`).

| module | holds |
| --- | --- |
| ``build`` | the report dict and its JSON schema; `write_report`, `report_from_eval_dir` |
| ``inputs`` | what a report reads: evaluation directory, training logs, the run's config.yaml |
| ``format`` | plain-text formatting shared by the writers (percentages, tables, alignments) |
| ``writers`` | report.json (`JsonWriter`) and report.md (`MarkdownWriter`) |
| ``html`` | report.html (`HTMLWriter`) and the HTML pieces `asr compare` reuses |
| ``players`` | the pages' audio players (linked or embedded audio) and word highlighting |
| ``plots`` | the figures (matplotlib, imported only when a report is written) |
| ``compare`` | two reports side by side: `compare_reports`, `format_text`, `write_compare` |

The package reads files and scores text (`asr.score`, `asr.provenance`; `asr.audio` to embed
audio): it never imports the model, the trainer or the decoders.
"""

from asr.report.build import SCHEMA_VERSION, build_report, report_from_eval_dir, write_report
from asr.report.compare import compare_reports, format_text, load_report, write_compare
from asr.report.inputs import (
    ReportError,
    load_evaluation,
    read_run_config,
    read_training_log,
)

__all__ = [
    "SCHEMA_VERSION",
    "ReportError",
    "build_report",
    "compare_reports",
    "format_text",
    "load_evaluation",
    "load_report",
    "read_run_config",
    "read_training_log",
    "report_from_eval_dir",
    "write_compare",
    "write_report",
]
