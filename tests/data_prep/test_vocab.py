"""Vocabularies: DNABERT/NT conventions, fast path == HF tokenizer, spans, decode, reload."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from data_prep.fasta import read_fasta
from data_prep.vocab import UNK_ID, VocabError, build_vocab, load_vocab


@pytest.fixture(scope="module")
def real_windows(ecoli_slice: Path) -> list[str]:
    rec = next(read_fasta(ecoli_slice))
    text = "ACGTN"
    seq = "".join(text[c] for c in rec.codes[:40_000])
    wins = [seq[i : i + 500] for i in range(0, 40_000 - 500, 500)]
    wins.append("ACGTNNACGTACGTAAGN" + wins[0][:77])  # N handling in every family
    return wins


def test_dnabert_6mer_format_exact(data_mirror: Path) -> None:
    """Sequence -> space-separated 6-mers reproduces DNABERT's own fine-tuning file line by line."""
    v = build_vocab("kmer6-overlap", 101)
    path = data_mirror / "benchmark" / "DNABERT_sample" / "ft_6mer_dev.tsv.gz"
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()[1:]
    assert len(lines) == 1000
    for line in lines:
        kmers = line.split("\t")[0]
        toks = kmers.split(" ")
        seq = toks[0] + "".join(t[-1] for t in toks[1:])
        assert v.to_tokenizer_input(seq) == kmers
        ids = v.tokenizer(kmers, add_special_tokens=False)["input_ids"]
        assert ids == v.encode(seq).tolist()
        assert UNK_ID not in ids


@pytest.mark.parametrize(
    "name",
    ["char", "kmer3-overlap", "kmer6-overlap", "kmer3-disjoint", "kmer6-disjoint", "bpe-300"],
)
def test_fast_path_equals_hf_tokenizer(name: str, real_windows: list[str]) -> None:
    v = build_vocab(name, 500, real_windows[:40] if name.startswith("bpe") else None)
    for w in real_windows:
        fast = v.encode(w)
        hf = v.tokenizer(v.to_tokenizer_input(w), add_special_tokens=False)["input_ids"]
        assert fast.tolist() == hf, name
        spans = v.token_spans(fast)
        if v.family == "kmer-overlap":
            assert spans[-1, 1] == len(w) and (spans[:, 1] - spans[:, 0] == v.k).all()
        else:
            assert spans[0, 0] == 0 and spans[-1, 1] == len(w)
            assert (spans[1:, 0] == spans[:-1, 1]).all()  # tiles the window
            assert v.decode_bases(fast) == w
    assert v.tokenizer(v.to_tokenizer_input("ACGTAC"))["input_ids"][0] == 2  # [CLS]


def test_nt_disjoint_convention() -> None:
    """NT: k-mers from each N-free fragment's start, N alone, remainder as single bases."""
    v = build_vocab("kmer3-disjoint", 64)
    toks = [v.tokens[i] for i in v.encode("ACGTANACGTACGA")]
    assert toks == ["ACG", "T", "A", "N", "ACG", "TAC", "G", "A"]


def test_overlap_unk_for_n_and_decode() -> None:
    v = build_vocab("kmer3-overlap", 64)
    ids = v.encode("ACGNTTA")
    assert ids.tolist()[:1] != [UNK_ID] and (ids[1:4] == UNK_ID).all()
    assert v.decode_bases(ids) == "ACGNTTA"


def test_token_bases_table() -> None:
    v = build_vocab("kmer3-disjoint", 64)
    tb = v.token_bases(4)
    i = v.tokens.index("GTA")
    assert tb[i].tolist() == [2, 3, 0, -1]
    assert (tb[:5] == -1).all()


def test_save_load_roundtrip(tmp_path: Path, real_windows: list[str]) -> None:
    v = build_vocab("bpe-300", 500, real_windows[:40])
    v.save(tmp_path / "tok")
    w = load_vocab(tmp_path / "tok")
    assert (w.name, w.family, w.size) == ("bpe-300", "bpe", 300)
    assert w.sha256() == v.sha256()
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert auto(real_windows[0])["input_ids"][1:-1] == v.encode(real_windows[0]).tolist()


def test_bpe_is_deterministic(real_windows: list[str]) -> None:
    a = build_vocab("bpe-300", 500, real_windows[:40])
    b = build_vocab("bpe-300", 500, real_windows[:40])
    assert a.sha256() == b.sha256()


@pytest.mark.parametrize("name", ["kmer7-overlap", "bpe", "word", "bpe-4"])
def test_bad_vocab_names(name: str) -> None:
    with pytest.raises(VocabError, match="vocabular|bpe size"):
        build_vocab(name, 100)


def test_encode_rejects_non_acgtn() -> None:
    v = build_vocab("char", 10)
    with pytest.raises(VocabError, match="not one of ACGTN"):
        v.encode("ACGR")
    assert np.array_equal(v.encode("acgt".upper()), [5, 6, 7, 8])


@pytest.mark.parametrize(
    "name",
    ["char", "kmer3-overlap", "kmer6-overlap", "kmer3-disjoint", "kmer6-disjoint", "bpe-300"],
)
def test_packed_batch_equals_saved_hf_tokenizer(
    name: str, real_windows: list[str], tmp_path: Path
) -> None:
    """The sharder's batch encoder gives, window by window, the ids of the tokenizer as saved
    and reloaded by plain transformers; windows with N (one, several, all) included."""
    from transformers import AutoTokenizer

    v = build_vocab(name, 95, real_windows[:40] if name.startswith("bpe") else None)
    v.save(tmp_path / "tok")
    hf = AutoTokenizer.from_pretrained(tmp_path / "tok")
    rng = np.random.default_rng(7)
    seqs = [w[:95] for w in real_windows[:30]]
    seqs += ["N" * 95, "ACGTN" * 19]
    seqs += ["".join(rng.choice(list("ACGTN"), 95, p=[0.24] * 4 + [0.04])) for _ in range(20)]
    codes = np.stack([np.frombuffer(s.encode(), np.uint8) for s in seqs])
    codes = np.searchsorted(np.frombuffer(b"ACGNT", np.uint8), codes)  # ASCII -> A0 C1 G2 N3 T4
    codes = np.array([0, 1, 2, 4, 3], np.uint8)[codes]  # -> A0 C1 G2 T3 N4
    packed = v.encode_packed(codes)
    assert packed.ids.dtype == v.dtype and len(packed) == len(seqs)
    for seq, row in zip(seqs, packed.rows(), strict=True):
        want = hf(v.to_tokenizer_input(seq), add_special_tokens=False)["input_ids"]
        assert row.tolist() == want, (name, seq)


@pytest.mark.parametrize("name", ["char", "kmer6-overlap", "kmer3-disjoint", "bpe-300"])
def test_load_encoder_matches_load_vocab(
    name: str, real_windows: list[str], tmp_path: Path
) -> None:
    """Sharding workers load the bare Rust tokenizer: same ids, no transformers needed."""
    from data_prep.vocab import load_encoder

    v = build_vocab(name, 95, real_windows[:40] if name.startswith("bpe") else None)
    v.save(tmp_path / "tok")
    full, bare = load_vocab(tmp_path / "tok"), load_encoder(tmp_path / "tok")
    assert (bare.name, bare.family, bare.size, bare.dtype) == (v.name, v.family, v.size, v.dtype)
    codes = np.stack([np.frombuffer(w[:95].encode(), np.uint8) for w in real_windows[:20]])
    codes = np.searchsorted(np.frombuffer(b"ACGT", np.uint8), codes).astype(np.uint8)
    assert np.array_equal(bare.encode_packed(codes).ids, full.encode_packed(codes).ids)
