"""``python -m asr.cli``: the `asr` command."""

import sys

from asr.cli import main

sys.exit(main())
