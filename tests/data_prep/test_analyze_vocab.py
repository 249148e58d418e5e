"""Vocabulary report: each metric on hand-computable cases, bad input, one real E. coli run."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from data_prep.analyze_vocab import (
    AnalyzeError,
    benchmark_lengths,
    load_benchmark,
    main,
)
from data_prep.vocab import N_CODE, N_SPECIAL, UNK_ID, build_vocab
from data_prep.vocab_metrics import (
    entropy_bits,
    js_divergence_bits,
    length_summary,
    robustness,
    segment,
    split_metrics,
    substitute,
    tokens_lost,
    top_share,
    zipf_fit,
)


def _acgt(length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=length).astype(np.uint8)


def _mutate(codes: np.ndarray, pos: int) -> np.ndarray:
    out = codes.copy()
    out[pos] = (out[pos] + 1) % 4
    return out


def _robust(name: str, codes: np.ndarray, mutated: np.ndarray) -> dict:
    v = build_vocab(name, codes.size)
    return robustness(v, [v.encode(codes)], codes[None], mutated[None])


# --- counts-based metrics -------------------------------------------------------------------


def test_entropy_uniform_and_point_mass() -> None:
    counts = np.r_[np.zeros(N_SPECIAL), np.full(16, 7)].astype(np.int64)
    assert entropy_bits(counts) == pytest.approx(4.0)
    point = np.zeros(21, np.int64)
    point[7] = 100
    assert entropy_bits(point) == 0.0


def test_js_divergence_identical_disjoint_symmetric() -> None:
    p = np.array([0, 0, 0, 0, 0, 3, 1, 4, 0], np.int64)
    assert js_divergence_bits(p, 5 * p) == pytest.approx(0.0, abs=1e-12)
    q = np.array([0, 0, 0, 0, 0, 0, 0, 0, 9], np.int64)
    assert js_divergence_bits(p, q) == pytest.approx(1.0)
    r = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1], np.int64)
    assert js_divergence_bits(p, r) == pytest.approx(js_divergence_bits(r, p))
    assert 0.0 < js_divergence_bits(p, r) < 1.0


def test_zipf_fit_recovers_exponent() -> None:
    ranks = np.arange(1, 301)
    content = np.round(1e6 * ranks**-1.3).astype(np.int64)
    counts = np.r_[np.zeros(N_SPECIAL, np.int64), content[::-1]]  # id order must not matter
    fit = zipf_fit(counts)
    assert fit.exponent == pytest.approx(1.3, abs=0.01)
    assert fit.r2 == pytest.approx(1.0, abs=1e-3)
    assert fit.points == int((content >= 10).sum())
    few = np.r_[np.zeros(N_SPECIAL, np.int64), [50, 20, 3, 1]]
    assert zipf_fit(few).exponent is None  # two tokens over the floor: no fit


def test_top_share_counts_the_top_one_percent() -> None:
    content = np.ones(200, np.int64)
    content[:2] = 49  # 200 content tokens -> the top 2 ids
    counts = np.r_[np.zeros(N_SPECIAL, np.int64), content]
    assert top_share(counts) == pytest.approx(98 / (98 + 198))


def test_split_metrics_usage_unk_compression() -> None:
    counts = np.zeros(N_SPECIAL + 4, np.int64)
    counts[UNK_ID] = 10
    counts[N_SPECIAL:] = [60, 25, 5, 0]
    m = split_metrics(counts, windows=2, bases=300)
    assert m["tokens"] == 100
    assert m["used_frac"] == pytest.approx(0.75)
    assert m["unused_tokens"] == 1
    assert m["rare_tokens"] == 2  # 5 and 0 occurrences
    assert m["unk_rate"] == pytest.approx(0.1)
    assert m["bases_per_token"] == pytest.approx(3.0)
    assert m["tokens_per_kb"] == pytest.approx(1000 / 3)
    assert m["entropy_bits_per_base"] == pytest.approx(m["entropy_bits_per_token"] / 3)


def test_kmer6_disjoint_bases_per_token_near_6() -> None:
    for window, tokens in ((600, 100), (1024, 170 + 4), (128, 21 + 2)):
        v = build_vocab("kmer6-disjoint", window)
        ids = v.encode(_acgt(window, seed=window))
        assert ids.size == tokens
        counts = np.bincount(ids, minlength=v.size)
        bpt = split_metrics(counts, 1, window)["bases_per_token"]
        assert bpt == pytest.approx(window / tokens)
    assert abs(1024 / 174 - 6) < 0.12


def test_length_summary_share_over_counts_cls_sep() -> None:
    s = length_summary(np.array([10, 20, 30]), limit=22)
    assert s["share_over"] == pytest.approx(1 / 3)  # 20 + 2 = 22 fits; 30 + 2 does not
    assert (s["min"], s["median"], s["max"]) == (10, 20.0, 30)


# --- segmentation robustness ----------------------------------------------------------------


def test_kmer6_overlap_shift_and_substitution() -> None:
    codes = _acgt(64)
    interior = _robust("kmer6-overlap", codes, _mutate(codes, 30))
    assert interior["shift_changed_frac"] == pytest.approx(1 / 59)  # only the k-mer at base 0
    assert interior["subst_tokens_changed"] == 6  # every 6-mer that covers base 30
    assert _robust("kmer6-overlap", codes, _mutate(codes, 0))["subst_tokens_changed"] == 1
    assert _robust("kmer6-overlap", codes, _mutate(codes, 61))["subst_tokens_changed"] == 3


def test_kmer6_disjoint_shift_reframes_everything_until_n() -> None:
    codes = _acgt(128)
    r = _robust("kmer6-disjoint", codes, _mutate(codes, 50))
    # 21 k-mers + singles at 126, 127; read one base later only the single at 127 survives.
    assert r["shift_changed_frac"] == pytest.approx(22 / 23)
    assert r["subst_tokens_changed"] == 1
    with_n = np.r_[_acgt(18, 1), [N_CODE], _acgt(18, 2)].astype(np.uint8)
    # 3 k-mers | N | 3 k-mers: N restarts the frame, so only the first 3 tokens change.
    r = _robust("kmer6-disjoint", with_n, _mutate(with_n, 30))
    assert r["shift_changed_frac"] == pytest.approx(3 / 7)


def test_char_shift_and_substitution() -> None:
    codes = _acgt(100)
    r = _robust("char", codes, _mutate(codes, 40))
    assert r["shift_changed_frac"] == pytest.approx(1 / 100)
    assert r["subst_tokens_changed"] == 1


def test_segment_matches_token_spans_and_tokens_lost() -> None:
    seq = "ACGTACGTTGCANNACGTAGGCTTAAC"
    for name in ("char", "kmer6-overlap", "kmer6-disjoint", "kmer3-disjoint"):
        v = build_vocab(name, len(seq))
        ids = [v.encode(seq), v.encode(seq[:20])]
        seg = segment(v, ids)
        for w, row in enumerate(ids):
            spans = v.token_spans(row)
            assert seg.start[seg.window == w].tolist() == spans[:, 0].tolist()
        assert tokens_lost(seg, seg).tolist() == [0, 0]
    v = build_vocab("char", 4)
    a = segment(v, [v.encode("ACGT")])
    b = segment(v, [v.encode("AGGT")])
    assert tokens_lost(a, b).tolist() == [1]


def test_substitute_changes_exactly_one_base() -> None:
    codes = np.stack([_acgt(50, s) for s in range(200)])
    codes[:, 7] = N_CODE
    mutated, pos = substitute(codes, np.random.default_rng(0))
    diff = mutated != codes
    assert diff.sum(axis=1).tolist() == [1] * 200
    assert np.array_equal(np.flatnonzero(diff) % 50, pos)
    new = mutated[np.arange(200), pos]
    assert new.max() <= 3  # always A/C/G/T: an N is replaced by a base, never by N
    assert (pos == 7).any()


# --- bad input ------------------------------------------------------------------------------


def test_missing_manifest_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", str(tmp_path), "--no-benchmark"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "manifest.json" in err and "shard.py" in err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--robust-windows", "0"], "--robust-windows 0: must be >= 1"),
        (["--benchmark-sample", "-1"], "--benchmark-sample -1: must be >= 0"),
        (["--max-tokens", "0"], "--max-tokens 0: must be >= 1"),
    ],
)
def test_range_errors_name_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], needle: str
) -> None:
    """The flags come from AnalyzeConfig (dnapt.cli): its checks are one-line errors."""
    assert main(["--data", str(tmp_path), "--no-benchmark", *argv]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == f"analyze_vocab: error: {needle}"


def test_cli_defaults_are_the_config_defaults(tmp_path: Path) -> None:
    from data_prep.analyze_vocab import AnalyzeConfig, build_parser, config_from_args

    cfg = config_from_args(build_parser().parse_args(["--data", str(tmp_path), "--no-benchmark"]))
    want = AnalyzeConfig(tmp_path.resolve(), tmp_path.parent / "vocab_report", no_benchmark=True)
    assert cfg == want


@pytest.mark.parametrize("text", ["256,abc", "8", "64,64"])
def test_bad_sweep_sizes(text: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", str(tmp_path), "--no-benchmark", "--bpe-sweep", text]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("analyze_vocab: error: --bpe-sweep")


def _write_csv(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write(text)


def test_benchmark_bad_files_name_file_and_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _write_csv(tmp_path / "a" / "t" / "train.csv.gz", "seq,label\nACGT,1\n")
    with pytest.raises(AnalyzeError, match=r"train\.csv\.gz: header .* no 'sequence' column"):
        load_benchmark(tmp_path, 0, rng)
    _write_csv(tmp_path / "a" / "t" / "train.csv.gz", "sequence,label\nACGT,1\nACxT,0\n")
    with pytest.raises(AnalyzeError, match=r"train\.csv\.gz:3: character 'x'"):
        load_benchmark(tmp_path, 0, rng)
    with pytest.raises(AnalyzeError, match="no benchmark tasks"):
        load_benchmark(tmp_path / "a" / "t", 0, rng)


# --- real data ------------------------------------------------------------------------------


def test_real_ecoli_report(
    small_shards: Path, data_mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "UCI").symlink_to(data_mirror / "benchmark" / "UCI")
    out = tmp_path / "report"
    argv = ["--data", str(small_shards), "--out", str(out), "--bpe-sweep", "64,128"]
    assert main([*argv, "--benchmark", str(bench), "--benchmark-sample", "60"]) == 0
    assert "kmer6-disjoint" in capsys.readouterr().out
    for f in ("vocab_report.json", "vocab_report.md", "rank_frequency.png"):
        assert (out / f).stat().st_size > 0
    assert (out / "compression_stability.png").is_file() and (out / "bpe_sweep.png").is_file()

    report = json.loads((out / "vocab_report.json").read_text())
    manifest = json.loads((small_shards / "manifest.json").read_text())
    v = report["vocabs"]
    assert list(v) == ["char", "kmer6-overlap", "kmer6-disjoint", "bpe-256"]
    for name, e in v.items():  # token counts agree with what the sharder counted
        for split in ("train", "val"):
            assert e[split]["tokens"] == manifest["vocabs"][name]["splits"][split]["tokens"]
            assert e[split]["windows"] == manifest["splits"][split]["windows"]
        assert 0.0 <= e["js_train_val_bits"] < 0.5
        assert e["train"]["unk_rate"] == 0.0  # E. coli has no N
        assert e["robustness"]["windows"] == manifest["splits"]["val"]["windows"]
        assert e["robustness"]["subst_tokens_changed"] >= 1.0
    assert v["char"]["train"]["bases_per_token"] == 1.0
    assert v["char"]["train"]["used_frac"] == pytest.approx(0.8)  # A C G T used, N never
    assert v["char"]["train"]["entropy_bits_per_token"] == pytest.approx(2.0, abs=0.01)
    assert v["kmer6-disjoint"]["train"]["bases_per_token"] == pytest.approx(128 / 23)
    assert v["kmer6-overlap"]["train"]["tokens_per_kb"] == pytest.approx(1000 * 123 / 128)
    rb = {n: e["robustness"] for n, e in v.items()}
    assert rb["char"]["shift_changed_frac"] == pytest.approx(1 / 128)
    assert rb["kmer6-overlap"]["shift_changed_frac"] == pytest.approx(1 / 123)
    assert rb["kmer6-disjoint"]["shift_changed_frac"] == pytest.approx(22 / 23)
    assert 5.5 < rb["kmer6-overlap"]["subst_tokens_changed"] <= 6.0
    assert rb["bpe-256"]["shift_changed_frac"] < 0.2  # BPE re-segments locally

    sweep = report["sweep"]["vocabs"]
    assert list(sweep) == ["bpe-64", "bpe-128"]
    assert sweep["bpe-64"]["size"] <= 64 and sweep["bpe-128"]["size"] <= 128
    assert (
        sweep["bpe-128"]["train"]["bases_per_token"] > sweep["bpe-64"]["train"]["bases_per_token"]
    )

    tasks = report["benchmark"]["tasks"]
    assert set(tasks) == {"UCI/ecoli_promoters", "UCI/splice_junction"}
    promoters = tasks["UCI/ecoli_promoters"]
    assert (promoters["sequences"], promoters["sampled"]) == (106, 60)
    assert promoters["tokens"]["char"]["median"] == 57
    assert promoters["tokens"]["kmer6-overlap"]["max"] == 52
    assert promoters["tokens"]["char"]["share_over"] == 0.0
    assert "bpe-128 (sweep)" in promoters["tokens"]


def test_benchmark_share_over_max_tokens(data_mirror: Path, tmp_path: Path) -> None:
    (tmp_path / "UCI").symlink_to(data_mirror / "benchmark" / "UCI")
    tasks = load_benchmark(tmp_path, 0, np.random.default_rng(0))
    tasks = [t for t in tasks if t.name == "UCI/ecoli_promoters"]
    assert len(tasks[0].codes) == 106  # 0 = every sequence of every split
    vocabs = {"char": build_vocab("char", 64), "kmer6-overlap": build_vocab("kmer6-overlap", 64)}
    out = benchmark_lengths(tasks, vocabs, max_tokens=56)["UCI/ecoli_promoters"]["tokens"]
    assert out["char"]["share_over"] == 1.0  # 57 + 2 > 56
    assert out["kmer6-overlap"]["share_over"] == 0.0  # 52 + 2 <= 56
    assert math.isclose(out["kmer6-overlap"]["mean"], 52.0)


def test_overlapping_kmers_get_a_per_base_figure_within_two_bits() -> None:
    """Issue case: kmer6-overlap reported 11.6 "bits per base" (token entropy / ~1 base/token)."""
    v = build_vocab("kmer6-overlap", 200_000)
    # uniform random bases: ~200 samples per 5-base context, so the plug-in estimate is within
    # its small-sample bias (3 * 4**5 / (2 N ln 2) = 0.011 bits) of the true 2 bits
    uniform = np.bincount(v.encode(_acgt(200_000, seed=1)), minlength=v.size)
    m = split_metrics(uniform, windows=1, bases=200_000, overlap_k=6)
    assert m["entropy_bits_per_token"] > 11  # the figure that used to be reported per base
    assert m["bits_per_base_method"] == "conditional"
    assert 1.98 < m["entropy_bits_per_base"] <= 2.0
    # a period-4 repeat is fully predictable from the previous 5 bases: 0 bits per base
    ids = v.encode("ACGT" * 1024)
    repeat = np.bincount(ids, minlength=v.size)
    assert split_metrics(repeat, 1, 4096, overlap_k=6)["entropy_bits_per_base"] == pytest.approx(0)
    # tiling vocabularies keep the unigram code length H * T / B
    assert split_metrics(uniform, 1, 4096)["bits_per_base_method"] == "unigram"
