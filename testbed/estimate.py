"""Dry-run arithmetic: shard sizes, token counts and compute of a recipe, with or without data.

A cluster recipe has to be checked before anyone books the cluster, on a machine that holds none
of its data. Counts come from the best source available, and each figure says which:

* ``manifest``: the shard directory exists with the recipe's parameters, so every count is exact;
* ``record lengths`` (the recipe's ``[corpus.expected_record_lengths]``, or a scan of the FASTA
  files when they are present): windows follow ``data_prep.windows``' own split arithmetic; windows
  dropped for N are unknown, so window counts are upper bounds; tokens per window are exact for
  char and k-mer vocabularies on N-free windows and an assumption for BPE.

Compute is the training FLOPs of every cell, ``6 N D`` (N = parameters that do matrix work: all
but the position and token-type embedding lookups; the word embeddings stay in because they are
the tied MLM decoder; D = tokens processed, windows padded to the model's max length) plus the
attention term ``6 L T d D`` (Kaplan et al. 2020), converted to GPU-hours at the recipe's
``[cost]`` peak throughput and MFU.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from data_prep.manifest import Manifest, ManifestError
from testbed.keys import shard_params
from testbed.plan import Budget, vocab_shape
from testbed.recipe import Recipe, RecipeError

# Assumed mean bases per BPE token when no manifest exists (measured: 5.03 for bpe-4096 on E. coli
# 128-base windows); the longest window is assumed 1.25x the mean in tokens (measured 1.22).
BPE_BASES_PER_TOKEN = 5.0
BPE_MAX_OVER_MEAN = 1.25
SPLITS = ("train", "val")


@dataclass
class VocabCounts:
    """Per vocabulary: tokens per split, longest window in tokens, and bytes on disk."""

    size: int
    tokens: dict[str, int]
    max_tokens: int
    shard_bytes: int
    bytes_kind: str  # "on disk (zstd)" or "raw token bytes (before zstd)"


@dataclass
class CorpusCounts:
    """Windows and bases per split, and per-vocabulary counts, from one documented source."""

    source: str
    exact: bool
    windows: dict[str, int]
    bases: dict[str, int]
    vocabs: dict[str, VocabCounts] = field(default_factory=dict)


def manifest_matches(manifest: Manifest, recipe: Recipe) -> bool:
    """True when a manifest was written with this recipe's shard parameters."""
    want = json.loads(json.dumps(shard_params(recipe)))
    return manifest.params.to_json() == want


def counts_from_manifest(manifest: Manifest, shards: Path) -> CorpusCounts:
    sp = manifest.splits
    out = CorpusCounts(
        "manifest",
        True,
        {s: sp[s].windows for s in SPLITS},
        {s: sp[s].bases for s in SPLITS},
    )
    for name, v in manifest.vocabs.items():
        size = sum(
            (shards / name / f).stat().st_size for f in v.files if (shards / name / f).is_file()
        )
        out.vocabs[name] = VocabCounts(
            v.size,
            {s: v.splits[s].tokens for s in SPLITS},
            v.max_tokens,
            size,
            "on disk (zstd)",
        )
    return out


def record_lengths(recipe: Recipe) -> tuple[dict[str, int], str]:
    """Record name -> length: the recipe's expected lengths, else a scan of present FASTA files."""
    c = recipe.corpus
    if c.expected_record_lengths:
        return dict(
            c.expected_record_lengths
        ), "record lengths from [corpus.expected_record_lengths]"
    from data_prep.fasta import FastaError, FileStats, read_fasta
    from data_prep.sources import SourceError, resolve

    lengths: dict[str, int] = {}
    for src in c.sources:
        try:
            path = resolve(src)
            stats = FileStats(str(path))
            for _ in read_fasta(path, stats):
                pass
        except (SourceError, FastaError) as e:
            raise RecipeError(
                f"{recipe.path}: [corpus] sources: cannot size '{src}' for the dry run ({e}); "
                "add [corpus.expected_record_lengths] (record = bases) to plan without data"
            ) from None
        lengths.update(stats.record_lengths)
    return lengths, "record lengths from a scan of the FASTA files"


def windows_per_split(
    recipe: Recipe, lengths: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """Windows and bases per split, by ``data_prep.windows``' split rule (no N drops)."""
    from data_prep.windows import WindowConfig, split_regions

    c = recipe.corpus
    p = shard_params(recipe)
    cfg = WindowConfig(c.window, c.stride, tuple(c.val_records), p["val_fraction"], c.max_n_frac)
    missing = set(c.val_records) - set(lengths)
    if missing:
        raise RecipeError(
            f"{recipe.path}: [corpus] val_records: {', '.join(sorted(missing))} not among the "
            "records (check the names against the FASTA headers)"
        )
    windows = dict.fromkeys(SPLITS, 0)
    for name, length in lengths.items():
        rec = SimpleNamespace(name=name, length=length)
        for split, (lo, hi) in split_regions(rec, cfg).items():
            if hi - lo >= c.window:
                windows[split] += (hi - lo - c.window) // c.stride + 1
    return windows, {s: n * c.window for s, n in windows.items()}


def tokens_per_window(vocab: str, window: int) -> tuple[float, int]:
    """(mean, max) content tokens of an N-free window; BPE uses the documented assumption."""
    shape = vocab_shape(vocab)
    k = shape.k
    if shape.family == "char":
        return window, window
    if shape.family == "kmer-overlap":
        return window - k + 1, window - k + 1
    if shape.family == "kmer-disjoint":
        n = window // k + window % k
        return n, n
    mean = window / BPE_BASES_PER_TOKEN
    return mean, min(window, math.ceil(mean * BPE_MAX_OVER_MEAN))


def corpus_counts(recipe: Recipe, shards: Path) -> CorpusCounts:
    """Exact counts from a matching manifest, else estimates from record lengths."""
    mpath = shards / "manifest.json"
    if mpath.is_file():
        try:
            manifest = Manifest.read(mpath, require_digest=False)
        except ManifestError:
            manifest = None  # unreadable or edited: it will be re-made; estimate meanwhile
        if manifest is not None and manifest_matches(manifest, recipe):
            return counts_from_manifest(manifest, shards)
    lengths, source = record_lengths(recipe)
    windows, bases = windows_per_split(recipe, lengths)
    out = CorpusCounts(source, False, windows, bases)
    for vocab in recipe.vocabs:
        mean, longest = tokens_per_window(vocab, recipe.corpus.window)
        shape = vocab_shape(vocab)
        tokens = {s: round(windows[s] * mean) for s in SPLITS}
        width = 2 if shape.size <= 65536 else 4
        out.vocabs[vocab] = VocabCounts(
            shape.size,
            tokens,
            longest,
            sum(tokens.values()) * width,
            "raw token bytes (before zstd)",
        )
    return out


@dataclass(frozen=True)
class ModelSize:
    """Parameters of one vocabulary's model, and its shape for the attention FLOPs term."""

    params: int
    flop_params: int  # less the position and token-type lookups
    layers: int
    hidden: int
    max_len: int


def model_size(preset: str, vocab_size: int, max_len: int) -> ModelSize:
    """Exact parameter count: the model is built on the meta device (no memory, no init)."""
    import torch
    from transformers import AutoModelForMaskedLM

    from trainer.models import model_config

    cfg = model_config(preset, vocab_size, max_len)
    with torch.device("meta"):
        model = AutoModelForMaskedLM.from_config(cfg)
    total = lookups = 0
    for name, p in model.named_parameters():
        total += p.numel()
        if "position_embeddings" in name or "token_type_embeddings" in name:
            lookups += p.numel()
    return ModelSize(total, total - lookups, cfg.num_hidden_layers, cfg.hidden_size, max_len)


def train_flops(size: ModelSize, tokens: int) -> float:
    """6 N D + 6 L T d D for ``tokens`` processed tokens (forward + backward)."""
    return 6.0 * size.flop_params * tokens + 6.0 * size.layers * size.max_len * size.hidden * tokens


def gpu_hours(flops: float, recipe: Recipe) -> float:
    return flops / (recipe.cost.peak_tflops * 1e12 * recipe.cost.mfu) / 3600.0


@dataclass
class CellCost:
    """Training cost of one cell (one vocabulary, one masking, one seed)."""

    vocab: str
    model: ModelSize
    tokens: int
    flops: float
    gpu_hours: float


def cell_cost(recipe: Recipe, budget: Budget, vocab: str, counts: CorpusCounts) -> CellCost:
    v = counts.vocabs[vocab]
    size = model_size(recipe.model, v.size, v.max_tokens + 2)
    tokens = budget.steps * budget.global_batch * size.max_len  # windows padded to max length
    flops = train_flops(size, tokens)
    return CellCost(vocab, size, tokens, flops, gpu_hours(flops, recipe))
