"""The numbers under every vocabulary: base codes, k-mer indices and packed batches of token ids.

Bases are uint8 codes A0 C1 G2 T3 N4 (``BASES[code]``); a window is a row of codes, a batch an
``[n, window]`` array. The k-mer arithmetic works on whole batches (shifted adds and ors, no
Python loop over positions), and ``Packed`` carries a batch's ids as one flat array. Kept apart
from ``data_prep/vocab.py`` (the tokenizers) because it needs only numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASES = "ACGTN"
N_CODE = 4
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0-4 in every vocabulary
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
N_SPECIAL = len(SPECIAL_TOKENS)  # content token ids start here

# byte -> base code for already-clean upper-case ACGTN text (anything else -> 255).
CODE_OF = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate(BASES.encode()):
    CODE_OF[_b] = _i


class VocabError(ValueError):
    """A vocabulary name, file or input that dnapt cannot use; the message says how to fix it."""


def base_codes(seq: str | bytes) -> np.ndarray:
    """Upper-case ACGTN text -> uint8 codes A0 C1 G2 T3 N4; any other character is an error."""
    raw = np.frombuffer(seq.encode() if isinstance(seq, str) else seq, dtype=np.uint8)
    codes = CODE_OF[raw]
    bad = np.flatnonzero(codes == 255)
    if bad.size:
        i = int(bad[0])
        raise VocabError(
            f"character {chr(raw[i])!r} at position {i} is not one of ACGTN: upper-case the "
            "sequence and map IUPAC codes to N explicitly before tokenizing"
        )
    return codes


def kmer_index(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling base-4 index of every length-k window along the last axis, and whether it has N.

    Works on one sequence ``[L]`` or a batch of equal-length windows ``[n, L]``: k shifted adds
    over the whole array instead of a Python loop over positions.
    """
    length = codes.shape[-1]
    t = length - k + 1
    if t <= 0:
        shape = (*codes.shape[:-1], 0)
        return np.zeros(shape, np.int64), np.zeros(shape, bool)
    idx = np.zeros((*codes.shape[:-1], t), dtype=np.int64)
    has_n = np.zeros(idx.shape, dtype=bool)
    for o in range(k):
        part = codes[..., o : o + t]
        idx = idx * 4 + np.minimum(part, 3)
        has_n |= part == N_CODE
    return idx, has_n


BASES_ARRAY = np.frombuffer(BASES.encode(), dtype=np.uint8)


@dataclass(frozen=True)
class Packed:
    """Token ids of a batch of windows in one flat array: row i is ``ids[offsets[i]:offsets[i+1]]``.

    One array instead of a list of small ones: no per-window objects in the hot loop, and one
    buffer to pickle between sharding workers. ``width`` is the common row length, or -1.
    """

    ids: np.ndarray
    offsets: np.ndarray
    width: int = -1

    @classmethod
    def fixed(cls, ids: np.ndarray) -> Packed:
        n, width = ids.shape
        return cls(ids.reshape(-1), np.arange(n + 1, dtype=np.int64) * width, width)

    @classmethod
    def from_rows(cls, rows: list[np.ndarray], dtype: np.dtype) -> Packed:
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum([r.size for r in rows], out=offsets[1:])
        flat = np.concatenate(rows).astype(dtype, copy=False) if rows else np.zeros(0, dtype)
        return cls(flat, offsets)

    def __len__(self) -> int:
        return self.offsets.size - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def rows(self) -> list[np.ndarray]:
        if self.width >= 0:
            return list(self.ids.reshape(len(self), self.width))
        return np.split(self.ids, self.offsets[1:-1])


def kmer_ids(codes: np.ndarray, k: int, t: int, step: int, dtype: np.dtype) -> np.ndarray:
    """Token ids of the k-mers starting at columns 0, step, ..., (t-1)*step of ``[n, L]`` codes
    (0..3 only: the caller handles N), shifted past the special tokens.

    Base-4 digits are packed with in-place shifts and ors on a small integer type: 2k passes
    over the batch, no int64 temporaries (that was 4x the memory traffic).
    """
    stop = (t - 1) * step + 1
    ids = codes[:, 0:stop:step].astype(dtype)
    for o in range(1, k):
        ids <<= 2
        ids |= codes[:, o : o + stop : step]
    ids += N_SPECIAL
    return ids
