"""Checkpoint loading, the length policy (centre crop) and pooling, for dnapt and external tokenizers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

from data_prep.vocab import load_vocab
from eval.encoder import build_encoder, embed, load_checkpoint, plan_batches, tokenize
from tests.eval.evalkit import make_checkpoint


def test_dnapt_checkpoint_tokenizes_kmers_and_truncates(tiny_checkpoint: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.vocab_name == "kmer6-overlap" and ckpt.name == "tinyrun0"
    assert ckpt.max_length == 125 and ckpt.special_layout == (1, 1)
    vocab = load_vocab(tiny_checkpoint)
    short, long = "ACGTTGCA" * 10, "ACGTTGCAAC" * 20
    toks = tokenize(ckpt, [short, long])
    assert toks.truncated == 1
    assert toks.ids[0] == [2, *vocab.encode(short).tolist(), 3]
    assert len(toks.ids[1]) == 125 and toks.ids[1][0] == 2 and toks.ids[1][-1] == 3
    full = vocab.encode(long).tolist()  # 195 k-mers: 72 cut, 36 from each end
    assert toks.ids[1][1:-1] == full[36 : 36 + 123]  # the centre kept
    assert tokenize(replace(ckpt, max_length=500), [long]).truncated == 0


def test_mean_pooling_ignores_padding_and_batching(tiny_checkpoint: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    model = build_encoder(ckpt, "pretrained", 0)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), n)) for n in (20, 90, 40, 60, 120)]
    toks = tokenize(ckpt, seqs)
    together = embed(model, ckpt, toks, 8, "mean")
    alone = np.concatenate([embed(model, ckpt, tokenize(ckpt, [s]), 8, "mean") for s in seqs])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    with torch.inference_mode():
        ids = torch.tensor([toks.ids[0]])
        hidden = model(input_ids=ids).last_hidden_state[0, 1:-1].mean(0).numpy()
    np.testing.assert_allclose(together[0], hidden, atol=1e-5)
    cls = embed(model, ckpt, toks, 8, "cls")
    assert not np.allclose(cls, together)


def test_scratch_encoder_is_seeded_random_init(tiny_checkpoint: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    weights = lambda m: m.embeddings.word_embeddings.weight.detach()  # noqa: E731
    a, b = build_encoder(ckpt, "scratch", 1), build_encoder(ckpt, "scratch", 1)
    assert torch.equal(weights(a), weights(b))
    assert not torch.equal(weights(a), weights(build_encoder(ckpt, "scratch", 2)))
    assert not torch.equal(weights(a), weights(build_encoder(ckpt, "pretrained", 1)))


def test_external_checkpoint_gets_raw_sequence(tmp_path: Path) -> None:
    """A non-dnapt tokenizer (no dnapt_vocab metadata) is fed the sequence as is."""
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *"ACGTN"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    config = BertConfig(
        vocab_size=9,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=40,
    )
    BertForMaskedLM(config).save_pretrained(tmp_path)
    fast.save_pretrained(tmp_path)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.vocab_name is None and ckpt.prepare("ACGT") == "ACGT"
    assert ckpt.max_length == 40
    toks = tokenize(ckpt, ["ACGTN", "A" * 50])
    assert toks.ids[0] == [2, 4, 5, 6, 7, 8, 3] and toks.truncated == 1
    odd = tokenize(ckpt, ["AAAAACCCCCGGGGGTTTTTA" + "A" * 20])  # 41 tokens, cap 38: cut 1 + 2
    assert odd.ids[0] == [2, *tokenize(ckpt, ["AAAACCCCCGGGGGTTTTTA" + "A" * 18]).ids[0][1:-1], 3]
    out = embed(build_encoder(ckpt, "pretrained", 0), ckpt, toks, 4, "mean")
    assert out.shape == (2, 32) and np.isfinite(out).all()


def test_plan_batches_groups_by_length() -> None:
    batches = plan_batches(np.array([5, 1, 5, 2, 9]), 2)
    assert [b.tolist() for b in batches] == [[1, 3], [0, 2], [4]]


@pytest.mark.parametrize("vocab", ["char", "kmer3-overlap", "kmer6-overlap", "kmer4-disjoint"])
def test_array_tokenization_equals_the_tokenizer(vocab: str, tmp_path: Path) -> None:
    """The array path (dnapt char/k-mer checkpoints) gives the HF tokenizer's ids and truncation
    counts, for mixed lengths, N, and rows over the max length."""
    ckpt = load_checkpoint(make_checkpoint(tmp_path / "hf", vocab, window=64))
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGTN"), n, p=[0.24] * 4 + [0.04])) for n in (70, 64, 9, 200)]
    seqs += ["N" * 30, seqs[0]]
    from eval.encoder import _tokenize_arrays

    assert _tokenize_arrays(ckpt, seqs) is not None  # the array path really runs here
    fast = tokenize(ckpt, seqs)
    slow = tokenize(replace(ckpt, vocab=None), seqs)
    assert fast.ids == slow.ids and fast.truncated == slow.truncated > 0
