"""Checkpoints, tokenization under the length policy, and batched embedding extraction.

Any Hugging Face masked-LM directory with its tokenizer loads here, never with remote code. A
dnapt checkpoint's tokenizer says how its input is written (space-separated k-mers for
overlapping k-mer vocabularies); any other checkpoint gets the raw upper-case sequence.

Length policy ("center"): a sequence whose tokens exceed the model's max length keeps its central
``max_length - specials`` content tokens (the longer half of the excess is cut from the 3' end);
truncated rows are counted per split and reported beside every score. The centre, not the 5' end,
because designed tasks put their anchor there (a splice donor's GT, a start codon, an ARS centre:
docs/task-design.md), and so do GUE's and UCI's splice tasks. Batches are fixed from the data alone (rows sorted by token count,
then cut every ``batch_size``), so an embedding never depends on which process computed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from data_prep.vocab import Vocab, VocabError, base_codes, load_vocab

if TYPE_CHECKING:  # torch and transformers load when a checkpoint does, not at import
    import torch
    from transformers import PretrainedConfig

LENGTH_POLICY = "center"
POOLINGS = ("mean", "cls")
# Model types whose learned positions start after the padding index (position ids pad_id+1...).
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "esm"}


class CheckpointError(ValueError):
    """A checkpoint directory eval cannot use; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    """A pretrained checkpoint as eval sees it: tokenizer, config and input preparation."""

    path: Path
    name: str
    tokenizer: object
    config: PretrainedConfig
    vocab_name: str | None
    prepare: Callable[[str], str]
    max_length: int
    vocab: Vocab | None = None  # a dnapt vocabulary: tokenized by its array encoder

    @property
    def special_layout(self) -> tuple[int, int]:
        """(prefix, suffix): how many special tokens the tokenizer adds before and after content,
        read off one real encoding so it holds for any tokenizer's post-processor."""
        text = self.prepare("ACGTACGTACGTACGT")
        bare = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        full = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        prefix = next(i for i in range(len(full)) if full[i : i + len(bare)] == bare)
        return prefix, len(full) - prefix - len(bare)


def _identity(seq: str) -> str:
    return seq


def checkpoint_name(path: Path) -> str:
    """Readable name: ``RUN`` for ``RUN/hf`` (the trainer's export), else the dir name."""
    path = path.resolve()
    return path.parent.name if path.name == "hf" else path.name


def load_checkpoint(path: str | Path, max_length: int | None = None) -> Checkpoint:
    """Tokenizer + config of a checkpoint dir; ``max_length`` overrides the model's limit."""
    from transformers import AutoConfig, AutoTokenizer
    from transformers import logging as hf_logging

    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: no config.json (not a Hugging Face checkpoint dir)")
    hf_logging.set_verbosity_error()
    config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, use_fast=True)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: no usable tokenizer ({e})") from e
    try:
        vocab = load_vocab(path)
        vocab_name, prepare = vocab.name, vocab.to_tokenizer_input
    except VocabError:
        vocab, vocab_name, prepare = None, None, _identity
    limits = [getattr(config, "max_position_embeddings", None), tokenizer.model_max_length]
    if config.model_type in _OFFSET_POSITIONS and limits[0]:
        limits[0] -= (config.pad_token_id or 0) + 1
    sane = [int(x) for x in limits if x and x < 1_000_000]
    if max_length is None and not sane:
        raise CheckpointError(f"{path}: cannot tell the max length; pass --max-length")
    limit = min(sane) if sane else max_length
    if max_length is not None:
        limit = min(limit, max_length)
    return Checkpoint(
        path, checkpoint_name(path), tokenizer, config, vocab_name, prepare, limit, vocab
    )


def build_encoder(ckpt: Checkpoint, init: str, seed: int) -> torch.nn.Module:
    """The bare encoder: pretrained weights, or the same architecture randomly initialized.

    ``scratch`` seeds torch first, so seed s always gives the same random encoder.
    """
    import torch
    from transformers import AutoModel

    torch.manual_seed(seed)
    if init == "pretrained":
        model = AutoModel.from_pretrained(ckpt.path, trust_remote_code=False)
    elif init == "scratch":
        model = AutoModel.from_config(ckpt.config, trust_remote_code=False)
    else:
        raise ValueError(f"unknown init {init!r}")
    return model.eval()


@dataclass
class Tokenized:
    """Token ids of one split with special tokens added, after truncation."""

    ids: list[list[int]]
    truncated: int

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))


def tokenize(ckpt: Checkpoint, seqs: list[str]) -> Tokenized:
    """Batched fast tokenization, then the length policy (counted, never silent): rows longer
    than the max length keep their central content tokens, with the tokenizer's own special
    tokens put back around them.

    A dnapt char or k-mer checkpoint takes the array path instead: sequences grouped by length
    go through ``Vocab.encode_packed`` (tested equal to the tokenizer), then [CLS] content[:cap]
    [SEP]; the same ids, without building one HF encoding object per sequence."""
    fast = _tokenize_arrays(ckpt, seqs)
    if fast is not None:
        return fast
    tok = ckpt.tokenizer
    texts = [ckpt.prepare(s) for s in seqs]
    ids = tok(texts, add_special_tokens=True, verbose=False)["input_ids"]
    long = [i for i, x in enumerate(ids) if len(x) > ckpt.max_length]
    if long:
        masks = tok(
            [texts[i] for i in long], add_special_tokens=True, return_special_tokens_mask=True
        )["special_tokens_mask"]
        for i, mask in zip(long, masks, strict=True):
            head = next(j for j, m in enumerate(mask) if not m)  # leading special tokens
            tail = len(mask) - next(j for j, m in enumerate(reversed(mask)) if not m)
            x = ids[i]
            kept = center(x[head:tail], ckpt.max_length - head - (len(x) - tail))
            ids[i] = x[:head] + kept + x[tail:]
    return Tokenized(ids, len(long))


def center(tokens: list[int], cap: int) -> list[int]:
    """The central ``cap`` tokens (the extra one of an odd excess is cut at the 3' end)."""
    if len(tokens) <= cap:
        return tokens
    start = (len(tokens) - cap) // 2
    return tokens[start : start + cap]


def _tokenize_arrays(ckpt: Checkpoint, seqs: list[str]) -> Tokenized | None:
    """The array path of ``tokenize``, or None where it does not apply (external or BPE
    tokenizers, another special-token layout, characters other than ACGTN, a sequence shorter
    than k for overlapping k-mers)."""
    v, tok = ckpt.vocab, ckpt.tokenizer
    if v is None or v.family == "bpe" or ckpt.special_layout != (1, 1):
        return None
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        groups.setdefault(len(s), []).append(i)
    if any(length < v.k for length in groups):
        return None
    cap = ckpt.max_length - 2
    cls, sep = tok.cls_token_id, tok.sep_token_id
    ids: list[list[int]] = [[] for _ in seqs]
    truncated = 0
    for length, rows in groups.items():
        try:
            codes = base_codes("".join(seqs[i] for i in rows)).reshape(len(rows), length)
        except VocabError:
            return None
        packed = v.encode_packed(codes)
        for i, row in zip(rows, packed.rows(), strict=True):
            truncated += row.size > cap
            ids[i] = [cls, *center(row.tolist(), cap), sep]
    return Tokenized(ids, truncated)


def plan_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices of each batch: stable sort by length, cut every ``batch_size`` rows.

    Similar lengths share a batch (little padding), and the plan depends on the data only.
    """
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(
    ids: list[list[int]], rows: np.ndarray, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask`` for the given rows."""
    import torch

    lengths = np.array([len(ids[r]) for r in rows], dtype=np.int64)
    width = int(lengths.max())
    x = np.full((len(rows), width), pad_id, dtype=np.int64)
    for i, r in enumerate(rows):
        x[i, : lengths[i]] = ids[r]
    mask = (np.arange(width) < lengths[:, None]).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(mask)


def embed(
    model: torch.nn.Module,
    ckpt: Checkpoint,
    tokens: Tokenized,
    batch_size: int,
    pooling: str,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``[n, hidden]`` float32 embeddings: mean over content tokens (specials and padding
    excluded) or the first token's state; bf16 autocast on GPU, fp32 on CPU."""
    import torch

    device = next(model.parameters()).device
    prefix, suffix = ckpt.special_layout
    pad_id = ckpt.tokenizer.pad_token_id if ckpt.tokenizer.pad_token_id is not None else 0
    out = np.zeros((len(tokens.ids), model.config.hidden_size), dtype=np.float32)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    with torch.inference_mode(), autocast:
        for rows in plan_batches(tokens.lengths, batch_size):
            x, mask = collate(tokens.ids, rows, pad_id)
            hidden = model(input_ids=x.to(device), attention_mask=mask.to(device)).last_hidden_state
            hidden = hidden.float()
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                lengths = mask.sum(1)
                pos = torch.arange(x.shape[1])
                content = (pos >= prefix) & (pos[None, :] < (lengths - suffix)[:, None])
                w = content.to(device=device, dtype=hidden.dtype).unsqueeze(-1)
                pooled = (hidden * w).sum(1) / w.sum(1).clamp(min=1)
            out[rows] = pooled.cpu().numpy()
            if on_batch:
                on_batch(len(rows))
    return out
