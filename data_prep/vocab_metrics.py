"""Metrics of a DNA vocabulary: usage, compression, frequency shape, entropy, segmentation stability.

Pure functions over token-count vectors (``np.bincount`` of ids, length = vocabulary size) and over
flat segmentations of window batches, so ``data_prep/analyze_vocab.py`` only moves data and
formats results, and each number can be tested on a hand-computable case. Every quantity is
defined in docs/vocab-report.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from data_prep.vocab import N_CODE, N_SPECIAL, UNK_ID, Vocab

RARE_COUNT = 10  # "rare" tokens occur fewer times than this; also the Zipf fit's count floor
TOP_FRACTION = 0.01  # the head of the vocabulary whose token share is reported


def count_tokens(batches: Iterable[np.ndarray], size: int) -> np.ndarray:
    """Occurrences of every id in ``batches`` (arrays of ids), as an int64 vector of ``size``."""
    counts = np.zeros(size, dtype=np.int64)
    for ids in batches:
        if ids.size:
            counts += np.bincount(ids, minlength=size)[:size]
    return counts


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy (bits) of the unigram distribution given by ``counts``."""
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def js_divergence_bits(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Jensen–Shannon divergence (bits, in [0, 1]) between two count vectors over the same ids."""
    if p_counts.sum() == 0 or q_counts.sum() == 0:
        raise ValueError("Jensen–Shannon divergence needs two non-empty count vectors")
    p = p_counts / p_counts.sum()
    q = q_counts / q_counts.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return max(0.0, (kl(p) + kl(q)) / 2)


@dataclass(frozen=True)
class ZipfFit:
    """Least-squares line through log10(count) vs log10(rank): count ∝ rank^-exponent."""

    exponent: float | None
    r2: float | None
    points: int


def zipf_fit(counts: np.ndarray, min_count: int = RARE_COUNT) -> ZipfFit:
    """Fit the Zipf exponent over content tokens seen at least ``min_count`` times.

    Counts under the floor are dropped because their discreteness (many ties at 1, 2, 3) bends
    the tail and would dominate a fit that weights every rank equally.
    """
    c = np.sort(counts[N_SPECIAL:])[::-1]
    c = c[c >= min_count]
    if c.size < 3:
        return ZipfFit(None, None, int(c.size))
    x = np.log10(np.arange(1, c.size + 1))
    y = np.log10(c)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return ZipfFit(float(-slope), r2, int(c.size))


def top_share(counts: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """Share of all tokens that are one of the ``ceil(fraction × content size)`` most frequent."""
    content = counts[N_SPECIAL:]
    total = counts.sum()
    if total == 0 or content.size == 0:
        return 0.0
    k = max(1, int(np.ceil(fraction * content.size)))
    return float(np.sort(content)[::-1][:k].sum() / total)


def overlap_bits_per_base(counts: np.ndarray, k: int) -> float | None:
    """Bits per base for overlapping k-mers: ``H(k-mer) - H(its first k-1 bases)``.

    Token entropy divided by bases per token is no code length here: every base sits in k
    tokens, so ``H · T / B`` is about ``H`` (~12 bits for k = 6, above the 2-bit ceiling). The
    conditional entropy of a k-mer's last base given its first k-1 is what the counts do
    measure per base: an order-(k-1) Markov code length, at most 2 bits. ``[UNK]`` (k-mers
    with N) is left out. Content ids are ``N_SPECIAL + base-4 index`` in A<C<G<T order.
    """
    kmers = counts[N_SPECIAL : N_SPECIAL + 4**k].astype(np.float64)
    if kmers.size != 4**k or kmers.sum() == 0:
        return None
    prefixes = kmers.reshape(4 ** (k - 1), 4).sum(axis=1)
    return max(0.0, entropy_bits(kmers) - entropy_bits(prefixes))


def split_metrics(counts: np.ndarray, windows: int, bases: int, overlap_k: int = 0) -> dict:
    """Every count-based metric of one split (``bases``: bases in its ``windows`` windows).

    ``overlap_k`` > 0 marks overlapping k-mer tokens, whose bits per base come from
    ``overlap_bits_per_base`` (see there why ``H · T / B`` does not apply).
    """
    tokens = int(counts.sum())
    content = counts[N_SPECIAL:]
    ent = entropy_bits(counts)
    zipf = zipf_fit(counts)
    if overlap_k:
        per_base = overlap_bits_per_base(counts, overlap_k)
    else:
        per_base = ent * tokens / bases if bases else None
    return {
        "windows": int(windows),
        "bases": int(bases),
        "tokens": tokens,
        "used_frac": float((content > 0).mean()),
        "unused_tokens": int((content == 0).sum()),
        "rare_tokens": int((content < RARE_COUNT).sum()),
        "unk_rate": float(counts[UNK_ID] / tokens) if tokens else 0.0,
        "bases_per_token": bases / tokens if tokens else None,
        "tokens_per_kb": 1000.0 * tokens / bases if bases else None,
        "entropy_bits_per_token": ent,
        "entropy_bits_per_base": per_base,
        "bits_per_base_method": "conditional" if overlap_k else "unigram",
        "zipf_exponent": zipf.exponent,
        "zipf_r2": zipf.r2,
        "zipf_points": zipf.points,
        "top1pct_share": top_share(counts),
    }


@dataclass(frozen=True)
class Segmentation:
    """The tokens of a batch of windows as flat arrays (one entry per token).

    ``start`` is in the coordinates of the original windows, so segmentations of a window and of
    its variants (shifted, substituted) can be compared token by token.
    """

    window: np.ndarray  # int64 window index of each token
    start: np.ndarray  # int64 first base of each token
    ids: np.ndarray  # int64 token id
    per_window: np.ndarray  # int64 tokens per window


def segment(vocab: Vocab, ids_list: list[np.ndarray], offset: int = 0) -> Segmentation:
    """Flatten encoded windows into a ``Segmentation``; ``offset`` shifts every base position.

    Spans follow ``docs/CONTRACTS.md``: overlapping k-mer j starts at base j; the other families
    tile the window, so a token starts where the previous one ends.
    """
    per_window = np.array([a.size for a in ids_list], dtype=np.int64)
    ids = np.concatenate(ids_list).astype(np.int64) if ids_list else np.zeros(0, np.int64)
    window = np.repeat(np.arange(per_window.size, dtype=np.int64), per_window)
    first = np.cumsum(per_window) - per_window  # flat index of each window's first token
    if vocab.family == "kmer-overlap":
        start = np.arange(ids.size, dtype=np.int64) - first[window]
    else:
        ends = np.concatenate([[0], np.cumsum(vocab.token_lengths[ids])])
        start = ends[:-1] - ends[first][window]
    return Segmentation(window, start + offset, ids, per_window)


def tokens_lost(orig: Segmentation, variant: Segmentation) -> np.ndarray:
    """Per window: tokens of ``orig`` with no identical token (same id, same base span) in ``variant``.

    A token's span is fixed by its start and its id (the id fixes the length), so the pair
    (window, start, id) identifies it; one ``np.isin`` over packed int64 keys compares all windows.
    """
    span = int(max(orig.start.max(initial=0), variant.start.max(initial=0))) + 2
    vocab = int(max(orig.ids.max(initial=0), variant.ids.max(initial=0))) + 1
    if (orig.per_window.size + 1) * span * vocab >= 2**62:
        raise ValueError("too many windows × bases × ids to pack into int64 keys: sample fewer")

    def keys(s: Segmentation) -> np.ndarray:
        return (s.window * span + s.start) * vocab + s.ids

    lost = ~np.isin(keys(orig), keys(variant))
    return np.bincount(orig.window[lost], minlength=orig.per_window.size)


def substitute(codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One single-base substitution per window: a uniform position gets a different base.

    A, C, G or T becomes one of the other three (uniformly); N becomes a uniform A, C, G or T.
    Returns the mutated copy and the substituted positions.
    """
    n, length = codes.shape
    pos = rng.integers(0, length, size=n)
    old = codes[np.arange(n), pos].astype(np.int64)
    step = rng.integers(1, 4, size=n)
    new = np.where(old == N_CODE, rng.integers(0, 4, size=n), (old + step) % 4)
    out = codes.copy()
    out[np.arange(n), pos] = new.astype(codes.dtype)
    return out, pos


def robustness(
    vocab: Vocab, orig_ids: list[np.ndarray], codes: np.ndarray, mutated: np.ndarray
) -> dict:
    """Segmentation stability of windows ``codes`` ([n, W] base codes) under two perturbations.

    ``orig_ids`` are the windows' own encodings (as stored in the shards).

    * shift: the window minus its first base, i.e. the same DNA read one base later. Reported as
      the fraction of the window's tokens that do not survive (mean over windows).
    * substitution: ``mutated`` (one base changed per window, see ``substitute``). Reported as
      the number of the window's tokens that do not survive (mean over windows).
    """
    if codes.shape[0] == 0:
        raise ValueError("robustness needs at least one window")
    orig = segment(vocab, orig_ids)
    shifted = segment(vocab, vocab.encode_windows(codes[:, 1:]), offset=1)
    subst = segment(vocab, vocab.encode_windows(mutated))
    shift_lost = tokens_lost(orig, shifted)
    subst_lost = tokens_lost(orig, subst)
    shift_frac = shift_lost / np.maximum(orig.per_window, 1)
    return {
        "windows": int(codes.shape[0]),
        "shift_changed_frac": float(shift_frac.mean()),
        "shift_changed_frac_p95": float(np.quantile(shift_frac, 0.95)),
        "subst_tokens_changed": float(subst_lost.mean()),
        "subst_tokens_changed_max": int(subst_lost.max()),
    }


def length_summary(tokens: np.ndarray, limit: int, specials: int = 2) -> dict:
    """Distribution of per-sequence content-token counts and the share over a model's ``limit``.

    ``limit`` counts the model's whole input, so a sequence exceeds it when its content tokens
    plus ``specials`` ([CLS] and [SEP]) are more than ``limit``.
    """
    if tokens.size == 0:
        raise ValueError("length_summary needs at least one sequence")
    q = np.quantile(tokens, [0.05, 0.5, 0.95])
    return {
        "min": int(tokens.min()),
        "p5": float(q[0]),
        "median": float(q[1]),
        "mean": float(tokens.mean()),
        "p95": float(q[2]),
        "max": int(tokens.max()),
        "max_tokens": int(limit),
        "share_over": float(((tokens + specials) > limit).mean()),
    }
