"""The DNA alphabet as eval's array code sees it: one definition of the base codes.

The codes are data_prep's (A0 C1 G2 T3 N4, ``data_prep.vocab.BASES``), so a genome read by
data_prep/fasta.py and a benchmark sequence encoded here agree.
"""

from __future__ import annotations

import numpy as np

from data_prep.vocab import BASES, N_CODE

__all__ = ["BASES", "BASE_CODE", "LETTERS", "N_CODE"]

# code -> ASCII byte ("ACGTN").
LETTERS = np.frombuffer(BASES.encode(), dtype=np.uint8)
# ASCII byte -> code; anything but A/C/G/T (N, padding, other bytes) -> N_CODE.
BASE_CODE = np.full(256, N_CODE, dtype=np.int64)
BASE_CODE[LETTERS[:N_CODE]] = np.arange(N_CODE)
