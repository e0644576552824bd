#!/usr/bin/env python3
"""Instructions per GET with and without metrics, counted by callgrind.

Wall-clock comparisons of a few per cent drown in the noise of a shared machine; callgrind's
instruction counts do not. Each mode runs the server under valgrind for a few and for many GETs
(see Benchmarks/common/callgrind.py). Usage: instructions.py KEYGATE_BINARY PUBLIC_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from callgrind import Mode, compare_gets  # noqa: E402

if __name__ == "__main__":
    compare_gets("metrics", without=Mode(flags=["--no-metrics"]), with_=Mode())
