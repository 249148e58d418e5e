"""From MDS shards to masked batches: the streaming loader, the collator and the val subset.

The collator runs inside DataLoader workers: it adds [CLS]/[SEP], pads to the model's max length,
computes each token's base span (``vocab.token_spans``) and applies the masking strategy, so the
training process only moves finished tensors. Masking must be reproducible no matter how many
workers there are or where a run was resumed, so each batch's generator is seeded from the seed
and the batch's own content, never from a worker's RNG.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from data_prep.vocab import CLS_ID, PAD_ID, SEP_ID, Vocab
from trainer.masking import IGNORE_INDEX, Masker
from trainer.shards import Shards


def set_streaming_local_world_size() -> None:
    """Tell mosaicml-streaming how many ranks share this machine's /dev/shm.

    The deepspeed launcher sets ``LOCAL_SIZE`` but streaming reads ``LOCAL_WORLD_SIZE``; left
    unset, streaming assumes one rank per node and two local ranks collide on the same
    shared-memory files. torchrun sets ``LOCAL_WORLD_SIZE`` itself. A larger value already in the
    environment wins (two single-rank "nodes" on one machine share one /dev/shm: set it to 2
    there); a smaller one is stale (inherited from a parent) and is corrected.
    """
    given = int(os.environ.get("LOCAL_WORLD_SIZE") or 0)
    launcher = int(os.environ.get("LOCAL_SIZE") or 0)
    os.environ["LOCAL_WORLD_SIZE"] = str(max(given, launcher, 1))


@dataclass
class Windows:
    """Windows as model input before masking: ids with specials, spans, masks ([B, L] each)."""

    input_ids: torch.Tensor  # LongTensor[B, L]
    spans: torch.Tensor  # LongTensor[B, L, 2], (-1, -1) for specials and padding
    special_mask: torch.Tensor  # BoolTensor[B, L]
    attention_mask: torch.Tensor  # LongTensor[B, L]


def encode_windows(token_ids: list[np.ndarray], vocab: Vocab, max_len: int) -> Windows:
    """Frame each window as [CLS] ids [SEP], pad to ``max_len`` and attach base spans."""
    b = len(token_ids)
    ids = np.full((b, max_len), PAD_ID, dtype=np.int64)
    spans = np.full((b, max_len, 2), -1, dtype=np.int64)
    for i, row in enumerate(token_ids):
        n = row.size
        if n + 2 > max_len:
            raise ValueError(
                f"a window has {n} tokens but the model takes {max_len - 2}: raise --max-len "
                "(the shard manifest's max_tokens is wrong)"
            )
        ids[i, 0] = CLS_ID
        ids[i, 1 : n + 1] = row
        ids[i, n + 1] = SEP_ID
        spans[i, 1 : n + 1] = vocab.token_spans(row)
    input_ids = torch.from_numpy(ids)
    content = torch.from_numpy(spans[..., 0] >= 0)
    return Windows(
        input_ids=input_ids,
        spans=torch.from_numpy(spans),
        special_mask=~content,
        attention_mask=(input_ids != PAD_ID).long(),
    )


def batch_seed(seed: int, token_ids: list[np.ndarray], starts: list[int]) -> int:
    """A 63-bit seed from the run seed and the batch content (independent of workers/resume)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(int(seed).to_bytes(8, "little", signed=True))
    h.update(np.asarray(starts, dtype=np.int64).tobytes())
    for row in token_ids:
        h.update(np.ascontiguousarray(row, dtype=np.int64).tobytes())
    return int.from_bytes(h.digest(), "little") >> 1


class MlmCollator:
    """Samples -> masked training batch; runs in DataLoader workers.

    ``step`` for curriculum schedules is derived from the batch's position in the stream: the
    loader hands out batches round-robin over workers, so worker ``w``'s ``j``-th batch after
    ``start(first)`` is micro-batch ``first + j * workers + w``.
    """

    def __init__(
        self, vocab: Vocab, masker: Masker, max_len: int, seed: int, grad_accum: int, workers: int
    ) -> None:
        self.vocab = vocab
        self.masker = masker
        self.max_len = max_len
        self.seed = seed
        self.grad_accum = grad_accum
        self.workers = max(workers, 1)
        self.first_micro = 0
        self.count = 0

    def start(self, first_micro: int) -> None:
        """Call before each new loader iterator (workers get a copy of this state)."""
        self.first_micro = first_micro
        self.count = 0

    def _micro_index(self) -> int:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        index = self.first_micro + self.count * self.workers + worker
        self.count += 1
        return index

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [np.asarray(s["input_ids"]) for s in samples]
        w = encode_windows(rows, self.vocab, self.max_len)
        gen = torch.Generator().manual_seed(
            batch_seed(self.seed, rows, [int(s["start"]) for s in samples])
        )
        step = self._micro_index() // self.grad_accum
        out = self.masker(w.input_ids, w.spans, w.special_mask, gen, step)
        return {
            "input_ids": out.input_ids,
            "labels": out.labels,
            "attention_mask": w.attention_mask,
            # For the hidden-bases objective: which bases each token covers and which are hidden.
            "spans": w.spans,
            "hidden": out.hidden,
            "stats": out.stats,
        }


def build_train_loader(
    shards: Shards,
    collator: MlmCollator,
    micro_batch: int,
    seed: int,
    canonical_nodes: int,
    num_workers: int,
) -> Any:
    """A ``StreamingDataLoader`` over the train split: shuffled, rank-disjoint, resumable."""
    from streaming import StreamingDataLoader, StreamingDataset

    remote, local = shards.split_paths("train")
    dataset = StreamingDataset(
        remote=remote,
        local=local,
        shuffle=True,
        shuffle_seed=seed,
        batch_size=micro_batch,
        num_canonical_nodes=canonical_nodes,
    )
    return StreamingDataLoader(
        dataset,
        batch_size=micro_batch,
        collate_fn=collator,
        num_workers=num_workers,
        persistent_workers=False,
        drop_last=False,
        pin_memory=torch.cuda.is_available(),
        # Its own generator: creating an iterator must not draw from the global RNG (dropout),
        # or a resumed run's dropout would be one draw off the uninterrupted run's.
        generator=torch.Generator().manual_seed(seed),
    )


class TrainStream:
    """Endless micro-batches across epochs, with the loader state that checkpoints need."""

    def __init__(self, loader: Any, collator: MlmCollator) -> None:
        self.loader = loader
        self.collator = collator
        self.epoch = 0
        self._it: Iterator[dict[str, Any]] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"loader": self.loader.state_dict(), "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loader.load_state_dict(state["loader"])
        self.epoch = int(state["epoch"])

    def next(self, micro_index: int) -> dict[str, Any]:
        """The next micro-batch; ``micro_index`` is how many this rank has taken so far."""
        for _ in range(2):
            if self._it is None:
                self.collator.start(micro_index)
                self._it = iter(self.loader)
            try:
                return next(self._it)
            except StopIteration:
                self._it = None
                self.epoch += 1
        raise RuntimeError("the train split yields no samples for this rank: shard more data")


@dataclass
class EvalBatch:
    """A fixed, pre-masked validation batch, kept in memory for the whole run."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    spans: torch.Tensor
    hidden: torch.Tensor


def mask_one_by_one(
    windows: Windows, masker: Masker, seeds: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask each row with its own generator, so a row's mask never depends on its batch-mates."""
    ids, labels, hidden = [], [], []
    for i, s in enumerate(seeds):
        sl = slice(i, i + 1)
        gen = torch.Generator().manual_seed(s)
        out = masker(windows.input_ids[sl], windows.spans[sl], windows.special_mask[sl], gen, 0)
        ids.append(out.input_ids)
        labels.append(out.labels)
        hidden.append(out.hidden)
    width = max(h.shape[1] for h in hidden)
    hidden = [torch.nn.functional.pad(h, (0, width - h.shape[1])) for h in hidden]
    return torch.cat(ids), torch.cat(labels), torch.cat(hidden)


def spread_indices(records: list[str], n: int) -> list[int]:
    """``n`` indices drawn deterministically across records, in proportion to their windows.

    Each record gets its largest-remainder share of ``n`` (ties to the earlier record), taken at
    evenly spaced positions through its windows; so a subset of a two-genome val split holds both
    genomes in their corpus proportions, and every region of each record, whatever order the
    shard writer stored them in. Returned sorted.
    """
    by_record: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_record.setdefault(r, []).append(i)
    total = len(records)
    n = min(n, total)
    names = sorted(by_record)
    quotas = [n * len(by_record[r]) / total for r in names]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(names)), key=lambda j: (-(quotas[j] - counts[j]), j))
    for j in order[: n - sum(counts)]:
        counts[j] += 1
    out: list[int] = []
    for name, c in zip(names, counts, strict=True):
        members = by_record[name]
        if c:
            picks = np.floor((np.arange(c) + 0.5) * len(members) / c).astype(int)
            out += [members[p] for p in picks]
    return sorted(out)


def eval_subset(dataset: Any, n_samples: int) -> list[int]:
    """``spread_indices`` over every window of a val ``StreamingDataset``.

    Over ``num_samples`` (the whole split), not ``len(dataset)``: under several ranks streaming's
    ``len`` is one rank's share, which would spread the subset over the first part of the split
    only (and differ from a one-process evaluation of the same run).
    """
    records = [dataset[i]["record"] for i in range(dataset.num_samples)]
    return spread_indices(records, n_samples)


def train_composition(dataset: Any, vocab: Vocab, n_windows: int = 4096) -> np.ndarray:
    """Base frequencies (A C G T N) of the train split, from ``n_windows`` evenly spread windows.

    The reference a context-free model reaches: scoring hidden bases with it gives the
    "composition" bits that val BPHB must go below to show the model learned context. Add-one
    smoothed so no base has probability 0. ``dataset`` is the train loader's own
    ``StreamingDataset`` (random access by sample index whatever its shuffle): opening a second
    one costs a shared-memory registration, which races with other streaming processes. Its
    ``num_samples`` is the whole split; ``len()`` is this rank's share, so it must not be used.
    """
    from data_prep.vocab import base_codes

    total = dataset.num_samples
    idx = np.unique(np.linspace(0, total - 1, min(n_windows, total)).astype(int))
    counts = np.ones(5, dtype=np.float64)
    for i in idx:
        codes = base_codes(vocab.decode_bases(np.asarray(dataset[int(i)]["input_ids"])))
        counts += np.bincount(codes, minlength=5)[:5]
    return counts / counts.sum()


def build_eval_batches(
    shards: Shards,
    masker: Masker,
    seed: int,
    n_samples: int,
    max_len: int,
    batch_size: int,
    rank: int,
    world: int,
) -> list[EvalBatch]:
    """This rank's share of ``n_samples`` val windows spread across records, masked once.

    The subset is ``spread_indices`` of the val split (not its first windows, which may all come
    from one genome). Sample ``i`` of the subset is masked with seed ``seed + i`` whatever the
    world size or batch size, so every evaluation (and every run using the same validation
    masking) scores the same positions. Every rank gets the same number of batches (ZeRO-3
    forwards are collective); filler rows repeat a real window with no labels, so they change no
    metric.
    """
    from streaming import StreamingDataset

    remote, local = shards.split_paths("val")
    dataset = StreamingDataset(remote=remote, local=local, shuffle=False)
    chosen = eval_subset(dataset, n_samples)
    n = len(chosen)
    if n < world:
        raise RuntimeError(
            f"{local}: {n} val windows for {world} ranks: raise --eval-samples or shard more "
            "validation data"
        )
    mine = list(range(rank, n, world))
    n_batches = math.ceil(math.ceil(n / world) / batch_size)
    rows = [np.asarray(dataset[chosen[i]]["input_ids"]) for i in mine]
    w = encode_windows(rows, shards.vocab, max_len)
    ids, labels, hidden = mask_one_by_one(w, masker, [seed + i for i in mine])
    attention, spans = w.attention_mask, w.spans
    filler = torch.zeros(n_batches * batch_size - len(mine), dtype=torch.long)
    if filler.numel():
        ids = torch.cat([ids, ids[filler]])
        attention = torch.cat([attention, attention[filler]])
        spans = torch.cat([spans, spans[filler]])
        labels = torch.cat([labels, torch.full_like(labels[filler], IGNORE_INDEX)])
        hidden = torch.cat([hidden, torch.zeros_like(hidden[filler])])
    return [
        EvalBatch(
            input_ids=ids[s : s + batch_size],
            attention_mask=attention[s : s + batch_size],
            labels=labels[s : s + batch_size],
            spans=spans[s : s + batch_size],
            hidden=hidden[s : s + batch_size],
        )
        for s in range(0, n_batches * batch_size, batch_size)
    ]
