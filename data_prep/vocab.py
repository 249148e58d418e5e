"""DNA vocabularies as Hugging Face fast tokenizers, plus a vectorized encoder and token base spans.

Every vocabulary is saved as a plain ``PreTrainedTokenizerFast`` so checkpoints load with no dnapt
code. dnapt keeps what a tokenizer file cannot express (the family, k, how to prepare the input
text) in ``tokenizer_config.json`` under ``dnapt_vocab``: it survives ``save_pretrained`` of any
downstream checkpoint, so ``load_vocab(RUN/hf)`` works as well as ``load_vocab(DIR/char)``.

Families (ids 0-4 are always [PAD] [UNK] [CLS] [SEP] [MASK]):

* ``char``: one token per base, A C G T N.
* ``kmer<K>-overlap``: DNABERT's overlapping k-mers, stride 1; the tokenizer's input is DNABERT's
  own format (space-separated k-mers). A k-mer containing N is [UNK], as in DNABERT.
* ``kmer<K>-disjoint``: Nucleotide Transformer's convention: N is its own token and restarts the
  k-mer frame; a fragment's trailing remainder shorter than K is emitted as single bases.
* ``bpe-<size>``: byte-pair encoding trained on the train split only; N never merges.

The numpy fast path (``Vocab.encode``) is what the shard writer uses; a test checks that it equals
the Hugging Face tokenizer on real sequences. Its arithmetic (base codes, k-mer indices, packed
ids) and the special token ids live in ``data_prep/vocab_codes.py``, re-exported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from data_prep.vocab_codes import (
    BASES,
    BASES_ARRAY,
    CLS_ID,
    CODE_OF,
    MASK_ID,
    N_CODE,
    N_SPECIAL,
    PAD_ID,
    SEP_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    Packed,
    VocabError,
    base_codes,
    kmer_ids,
    kmer_index,
)

# The special ids and base codes are defined in data_prep.vocab_codes; every stage imports them
# from here, next to the vocabularies they belong to.
__all__ = [
    "BASES", "BASES_ARRAY", "CLS_ID", "MASK_ID", "N_CODE", "N_SPECIAL", "PAD_ID", "SEP_ID",
    "SPECIAL_TOKENS", "UNK_ID", "Packed", "Vocab", "VocabError", "VocabSpec", "base_codes",
    "build_vocab", "kmer_index", "load_encoder", "load_vocab", "train_bpe",
]  # fmt: skip

if TYPE_CHECKING:  # transformers costs seconds to import: only where a tokenizer is built/loaded
    from transformers import PreTrainedTokenizerFast

FAMILIES = ("char", "kmer-overlap", "kmer-disjoint", "bpe")

_NAME_RE = re.compile(r"^(?:(char)|kmer([3-6])-(overlap|disjoint)|bpe-(\d+))$")


@dataclass(frozen=True)
class VocabSpec:
    """What a vocabulary is, independent of its learned merges: parsed from names like ``kmer6-overlap``."""

    name: str
    family: str
    k: int = 1
    bpe_size: int = 0

    @classmethod
    def parse(cls, name: str) -> VocabSpec:
        m = _NAME_RE.match(name)
        if not m:
            raise VocabError(
                f"unknown vocabulary '{name}': use char, kmer<K>-overlap, kmer<K>-disjoint "
                "(K = 3..6) or bpe-<size> (e.g. bpe-4096)"
            )
        if m.group(1):
            return cls(name, "char")
        if m.group(2):
            return cls(name, f"kmer-{m.group(3)}", k=int(m.group(2)))
        size = int(m.group(4))
        if not 16 <= size <= 1_000_000:
            raise VocabError(f"bpe size {size} out of range: use 16 <= size <= 1000000")
        return cls(name, "bpe", bpe_size=size)

    @property
    def size(self) -> int:
        """Tokens, specials included (BPE: the target size; training may stop below it)."""
        return self.bpe_size if self.family == "bpe" else N_SPECIAL + len(_content_tokens(self))


def _kmer_strings(k: int) -> list[str]:
    """All ACGT k-mers in DNABERT's vocabulary order (itertools.product order, A<C<G<T)."""
    idx = np.arange(4**k)
    digits = (idx[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4
    return ["".join("ACGT"[d] for d in row) for row in digits]


def _content_tokens(spec: VocabSpec) -> list[str]:
    if spec.family == "char":
        return list(BASES)
    if spec.family == "kmer-overlap":
        return _kmer_strings(spec.k)
    if spec.family == "kmer-disjoint":
        return _kmer_strings(spec.k) + list(BASES)
    raise VocabError(f"{spec.name}: BPE tokens are learned, not enumerated")


def _wordlevel_tokenizer(spec: VocabSpec) -> Tokenizer:
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS + _content_tokens(spec))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    if spec.family == "kmer-overlap":
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    elif spec.family == "char":
        tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    else:
        # Leftmost matching of "k ACGT bases, else one character" is exactly NT's chunking:
        # k-mers from each N-free fragment's start, N alone, remainder as single bases.
        pattern = f"[ACGT]{{{spec.k}}}|."
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    return tok


def train_bpe(spec: VocabSpec, texts: Iterable[str]) -> Tokenizer:
    """Train a BPE tokenizer on ``texts`` (train-split windows only: never on validation data)."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    # N never merges with bases: a BPE token then always stands for known sequence.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("N"), behavior="isolated")
    tok.decoder = decoders.BPEDecoder()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.bpe_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=list(BASES),
        min_frequency=2,
        show_progress=False,
        limit_alphabet=len(BASES),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def _finish(tok: Tokenizer, spec: VocabSpec, max_tokens: int) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    meta = {"name": spec.name, "family": spec.family, "k": spec.k, "bpe_size": spec.bpe_size}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_tokens + 2,
        dnapt_vocab=meta,
    )


def build_vocab(name: str, window: int, train_texts: Iterable[str] | None = None) -> Vocab:
    """Build vocabulary ``name`` for ``window``-base inputs (BPE needs ``train_texts``)."""
    spec = VocabSpec.parse(name)
    if spec.family == "bpe":
        if train_texts is None:
            raise VocabError(f"{name}: BPE needs training text from the train split")
        tok = train_bpe(spec, train_texts)
        max_tokens = window
    else:
        tok = _wordlevel_tokenizer(spec)
        max_tokens = window - spec.k + 1 if spec.family == "kmer-overlap" else window
    return Vocab(spec, _finish(tok, spec, max_tokens))


def load_vocab(path: str | Path) -> Vocab:
    """Load a dnapt vocabulary from ``DIR/<vocab>``, its ``tokenizer/`` dir or a checkpoint dir."""
    path = Path(path)
    for cand in (path / "tokenizer", path):
        if (cand / "tokenizer.json").is_file():
            break
    else:
        raise VocabError(f"{path}: no tokenizer.json here or in {path / 'tokenizer'}")
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(str(cand))
    meta = tok.init_kwargs.get("dnapt_vocab")
    if not meta:
        raise VocabError(f"{cand}: not a dnapt tokenizer (tokenizer_config.json lacks dnapt_vocab)")
    spec = VocabSpec(meta["name"], meta["family"], int(meta["k"]), int(meta["bpe_size"]))
    return Vocab(spec, tok)


def load_encoder(path: str | Path) -> Vocab:
    """A vocabulary for encoding only, from ``DIR/<vocab>/tokenizer``: the bare Rust tokenizer,
    without transformers (whose import costs seconds in every sharding worker process).
    ``encode``/``encode_packed`` give the same ids as ``load_vocab``; ``save`` is unavailable."""
    path = Path(path)
    try:
        meta = json.loads((path / "tokenizer_config.json").read_text())["dnapt_vocab"]
        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    except (OSError, KeyError, ValueError) as e:
        raise VocabError(f"{path}: not a dnapt tokenizer directory ({e})") from None
    spec = VocabSpec(meta["name"], meta["family"], int(meta["k"]), int(meta["bpe_size"]))
    return Vocab(spec, tok)  # type: ignore[arg-type]


@dataclass
class Vocab:
    """A vocabulary: its spec, its HF tokenizer, and vectorized encode / span / decode helpers."""

    spec: VocabSpec
    tokenizer: PreTrainedTokenizerFast
    _strings: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        inv = {i: t for t, i in self.tokenizer.get_vocab().items()}
        self._strings = [inv[i] for i in range(len(inv))]
        if self._strings[:N_SPECIAL] != SPECIAL_TOKENS:
            raise VocabError(f"{self.name}: ids 0-4 must be {SPECIAL_TOKENS}")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def backend(self) -> Tokenizer:
        """The Rust ``tokenizers.Tokenizer`` (what ``load_encoder`` holds directly)."""
        return getattr(self.tokenizer, "backend_tokenizer", self.tokenizer)

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def k(self) -> int:
        return self.spec.k

    @property
    def size(self) -> int:
        return len(self._strings)

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype of ids in shards: uint16 when the vocabulary fits, else int32."""
        return np.dtype(np.uint16) if self.size <= 65536 else np.dtype(np.int32)

    @property
    def tokens(self) -> list[str]:
        return list(self._strings)

    def save(self, directory: str | Path) -> None:
        self.tokenizer.save_pretrained(str(directory))

    def max_tokens(self, window: int) -> int:
        """Most content tokens a ``window``-base window can produce (no [CLS]/[SEP])."""
        return window - self.k + 1 if self.family == "kmer-overlap" else window

    @cached_property
    def token_lengths(self) -> np.ndarray:
        """Bases covered by each token id (0 for special tokens)."""
        lengths = np.array([len(t) for t in self._strings], dtype=np.int64)
        lengths[:N_SPECIAL] = 0
        if self.family == "kmer-overlap":
            lengths[UNK_ID] = self.k  # an N-containing k-mer still spans k bases
        return lengths

    def token_bases(self, max_len: int) -> np.ndarray:
        """[size, max_len] int8: base code at each offset of each token; -1 beyond it or unknown."""
        out = np.full((self.size, max_len), -1, dtype=np.int8)
        for i, t in enumerate(self._strings[N_SPECIAL:], start=N_SPECIAL):
            codes = CODE_OF[np.frombuffer(t.encode(), np.uint8)][:max_len]
            out[i, : codes.size] = codes
        return out

    def to_tokenizer_input(self, seq: str) -> str:
        """The text to give ``self.tokenizer`` for a sequence (DNABERT format for overlapping k-mers)."""
        if self.family != "kmer-overlap":
            return seq
        k = self.k
        return " ".join(seq[i : i + k] for i in range(len(seq) - k + 1))

    def encode(self, seq: str | bytes | np.ndarray) -> np.ndarray:
        """Content ids of one sequence (no specials); vectorized for char and k-mer families."""
        codes = seq if isinstance(seq, np.ndarray) else base_codes(seq)
        fam, k = self.family, self.k
        if fam == "char":
            return codes.astype(np.int64) + N_SPECIAL
        if fam == "kmer-overlap":
            idx, has_n = kmer_index(codes, k)
            return np.where(has_n, UNK_ID, idx + N_SPECIAL)
        if fam == "kmer-disjoint":
            return self._encode_disjoint(codes)
        text = BASES_ARRAY[codes].tobytes().decode()
        return np.asarray(self.backend.encode(text).ids[1:-1], dtype=np.int64)

    def encode_windows(self, codes: np.ndarray) -> list[np.ndarray]:
        """Encode a batch of equal-length windows given as base codes ``[n, window]`` (int64 rows)."""
        return [row.astype(np.int64) for row in self.encode_packed(codes).rows()]

    def encode_packed(self, codes: np.ndarray) -> Packed:
        """Encode ``[n, window]`` base codes into one flat id array in the storage dtype.

        This is the sharder's hot path: char, overlapping k-mers and N-free disjoint k-mers are a
        handful of whole-batch array operations with no per-window Python work; only windows with
        N (disjoint) and BPE go row by row (BPE in one Rust batch call).
        """
        n, length = codes.shape
        fam, k, dt = self.family, self.k, self.dtype
        if fam == "char":
            ids = codes.astype(dt)
            ids += N_SPECIAL
            return Packed.fixed(ids)
        if fam == "kmer-overlap":
            has_n = np.flatnonzero((codes == N_CODE).any(axis=1))
            base = np.minimum(codes, 3) if has_n.size else codes
            ids = kmer_ids(base, k, length - k + 1, 1, dt)
            if has_n.size:
                rows = codes[has_n] == N_CODE
                hit = np.lib.stride_tricks.sliding_window_view(rows, k, axis=1).any(axis=2)
                ids[has_n] = np.where(hit, UNK_ID, ids[has_n])
            return Packed.fixed(ids)
        if fam == "kmer-disjoint":
            m = length // k
            ids = np.empty((n, m + length - m * k), dt)
            ids[:, :m] = kmer_ids(codes, k, m, k, dt)
            ids[:, m:] = codes[:, m * k :]
            ids[:, m:] += N_SPECIAL + 4**k
            with_n = np.flatnonzero((codes == N_CODE).any(axis=1))
            if not with_n.size:
                return Packed.fixed(ids)
            rows: list[np.ndarray] = list(ids)
            for i in with_n.tolist():
                rows[i] = self._encode_disjoint(codes[i]).astype(dt)
            return Packed.from_rows(rows, dt)
        text = BASES_ARRAY[codes].tobytes().decode()
        seqs = [text[i * length : (i + 1) * length] for i in range(n)]
        encs = self.backend.encode_batch_fast(seqs, add_special_tokens=False)
        lists = [e.ids for e in encs]
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum([len(x) for x in lists], out=offsets[1:])
        flat = np.fromiter(chain.from_iterable(lists), dt, count=int(offsets[-1]))
        return Packed(flat, offsets)

    def encode_batch(self, seqs: list[str]) -> list[np.ndarray]:
        """Encode many sequences; BPE goes through the Rust tokenizer in one batch call."""
        if self.family != "bpe":
            return [self.encode(s) for s in seqs]
        encs = self.backend.encode_batch_fast(seqs, add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encs]

    def _encode_disjoint(self, codes: np.ndarray) -> np.ndarray:
        k, n = self.k, codes.size
        if n == 0:
            return np.zeros(0, np.int64)
        is_n = codes == N_CODE
        pos = np.arange(n)
        # Fragment = maximal N-free run; offset of each base from its fragment's start.
        frag_start = np.maximum.accumulate(np.where(np.r_[True, is_n[:-1]], pos, 0))
        frag_id = np.cumsum(np.r_[True, is_n[:-1]] | is_n) - 1
        frag_len = np.bincount(frag_id, weights=~is_n).astype(np.int64)[frag_id]
        off = pos - frag_start
        full = (frag_len // k) * k
        in_kmer = (~is_n) & (off < full)
        starts = is_n | ~in_kmer | (off % k == 0)
        tok_pos = np.flatnonzero(starts)
        kmer_tok = in_kmer[tok_pos]
        ids = N_SPECIAL + 4**k + codes[tok_pos].astype(np.int64)  # single-base tokens
        if kmer_tok.any():
            idx, _ = kmer_index(codes, k)
            kpos = tok_pos[kmer_tok]
            ids[kmer_tok] = N_SPECIAL + idx[kpos]
        return ids

    def token_spans(self, ids: np.ndarray) -> np.ndarray:
        """[T, 2] (start, end) base offsets of each content token within its window."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.family == "kmer-overlap":
            j = np.arange(ids.size, dtype=np.int64)
            return np.stack([j, j + self.k], axis=1)
        ends = np.cumsum(self.token_lengths[ids])
        return np.stack([ends - self.token_lengths[ids], ends], axis=1)

    def decode_bases(self, ids: np.ndarray) -> str:
        """Bases covered by content ids; 'N' where no known token covers a base (DNABERT [UNK])."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.family != "kmer-overlap":
            return "".join(self._strings[i] for i in ids)
        n = ids.size + self.k - 1 if ids.size else 0
        out = np.full(n, ord("N"), dtype=np.uint8)
        known = ids != UNK_ID
        table = np.frombuffer("".join(self._strings[N_SPECIAL:]).encode(), np.uint8).reshape(
            -1, self.k
        )
        for o in range(self.k - 1, -1, -1):  # later offsets first so every base gets set
            sel = np.flatnonzero(known)
            out[sel + o] = table[ids[sel] - N_SPECIAL, o]
        return out.tobytes().decode()

    def sha256(self) -> str:
        """Content hash of the tokenizer definition (vocabulary, merges, pre-tokenizer)."""
        import hashlib

        blob = json.loads(self.tokenizer.backend_tokenizer.to_str())
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()
