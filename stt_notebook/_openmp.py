"""Set before anything loads CTranslate2 (the package imports this first).

CTranslate2's OpenMP threads spin ~300k turns waiting for each other before they sleep; when other
work holds the cores, that spinning starves the very thread being waited for, and a Korean final
came 23-40 s after an 8 s clip instead of 9-12 s (benchmarks/busy.py); 10k turns cost nothing idle.
OpenMP reads it once, when it loads; a value the user set is kept.
"""

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")
