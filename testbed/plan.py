"""The testbed's plan: which cells run, with what budget, under which key.

Everything here is pure arithmetic on a parsed recipe, so the dry run, the real run and the tests
share it (the cache keys are in ``testbed.keys``, the stage commands in ``testbed.commands``).
Two rules carry the testbed's fairness:

* every cell sees the same number of **bases** (not steps or tokens: vocabularies compress
  differently). Each training sample is one window of ``window`` bases, so
  ``steps = ceil(bases / (global batch x window))`` and every cell gets the same steps;
* a cell's key is the sha256 of its resolved configuration (data identity, vocabulary, masking,
  model, DeepSpeed JSON, steps, seed, ranks). A finished cell with the same key is never rerun;
  change anything that defines it and it gets a new key and a new run directory.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from typing import Any

from testbed.keys import KEY_CHARS, canonical_hash, data_identity, model_identity
from testbed.recipe import MaskingSpec, Recipe, RecipeError


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in, table by table (a copy; inputs are untouched)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merged_ds_config(recipe: Recipe) -> dict[str, Any]:
    """The recipe's DeepSpeed JSON with its ``[deepspeed.override]`` applied."""
    try:
        raw = json.loads(recipe.ds_config.read_text())
    except json.JSONDecodeError as e:
        raise RecipeError(f"{recipe.path}: [deepspeed] config: {recipe.ds_config}: {e}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{recipe.path}: [deepspeed] config: {recipe.ds_config}: not an object")
    return deep_merge(raw, recipe.ds_override)


@dataclass(frozen=True)
class Budget:
    """The equal-bases budget turned into optimizer steps."""

    bases: int
    window: int
    micro_batch: int
    grad_accum: int
    world_size: int

    @property
    def global_batch(self) -> int:
        """Windows per optimizer step, over all ranks."""
        return self.micro_batch * self.grad_accum * self.world_size

    @property
    def steps(self) -> int:
        return math.ceil(self.bases / (self.global_batch * self.window))

    @property
    def bases_seen(self) -> int:
        """What each cell actually sees: the budget rounded up to whole steps."""
        return self.steps * self.global_batch * self.window

    def every(self, count: int) -> int:
        """Step interval giving about ``count`` events over the run (at least every step)."""
        return max(1, math.ceil(self.steps / count))


def plan_budget(recipe: Recipe, ds_config: dict[str, Any]) -> Budget:
    """The budget; the DeepSpeed JSON is checked by the trainer's own resolver first."""
    from trainer.config import ConfigError
    from trainer.ds_config import resolve_ds_config

    try:
        resolve_ds_config(ds_config, recipe.ds_config, 1000)
    except ConfigError as e:
        raise RecipeError(f"{recipe.path}: [deepspeed]: {e}") from None
    return Budget(
        bases=recipe.budget_bases,
        window=recipe.corpus.window,
        micro_batch=int(ds_config["train_micro_batch_size_per_gpu"]),
        grad_accum=int(ds_config["gradient_accumulation_steps"]),
        world_size=recipe.launcher.world_size,
    )


@dataclass(frozen=True)
class VocabShape:
    """What masking validity needs to know of a vocabulary before it exists on disk."""

    name: str
    family: str
    k: int
    size: int


def vocab_shape(name: str) -> VocabShape:
    """Family, k and size of a vocabulary name (BPE: its target size, an upper bound)."""
    from data_prep.vocab import VocabSpec

    spec = VocabSpec.parse(name)
    return VocabShape(name, spec.family, spec.k, spec.size)


def masking_config(spec: MaskingSpec):
    """The ``trainer.masking.MaskingConfig`` of a recipe masking (defaults written out)."""
    from trainer.masking import MaskingConfig

    return MaskingConfig(strategy=spec.strategy, **spec.params).resolved()


@dataclass(frozen=True)
class Skipped:
    """A vocabulary x masking pair that cannot run, with the masking module's reason."""

    vocab: str
    masking: str
    reason: str


def invalid_reason(vocab: str, spec: MaskingSpec) -> str | None:
    """Why ``spec`` cannot run on ``vocab`` (``trainer.masking``'s own check), or None."""
    from trainer.masking import build_masker

    try:
        build_masker(masking_config(spec), vocab_shape(vocab))
    except ValueError as e:
        return str(e)
    return None


@dataclass(frozen=True)
class Cell:
    """One training run of the matrix: a vocabulary, a masking and a training seed."""

    vocab: str
    masking: MaskingSpec
    seed: int
    config: dict[str, Any]  # everything the key covers

    @property
    def key(self) -> str:
        return canonical_hash(self.config)

    @property
    def id(self) -> str:
        """Run directory name: readable, and unique per configuration."""
        return f"{self.vocab}.{self.masking.label}.s{self.seed}.{self.key[:KEY_CHARS]}"

    @property
    def group(self) -> str:
        """The table row this run belongs to (seeds of one vocab x masking share a row)."""
        return f"{self.vocab}.{self.masking.label}"


def enumerate_cells(
    recipe: Recipe, budget: Budget, ds_config: dict[str, Any], digests: list[str | None]
) -> tuple[list[Cell], list[Skipped]]:
    """Every valid vocabulary x masking x seed cell (recipe order), and the invalid pairs."""
    cells, skipped = [], []
    data = data_identity(recipe, digests)
    t = recipe.train
    for vocab in recipe.vocabs:
        for spec in recipe.masking:
            reason = invalid_reason(vocab, spec)
            if reason is None and spec.vocabs and vocab not in spec.vocabs:
                reason = f"not planned: the recipe runs '{spec.label}' on {', '.join(spec.vocabs)}"
            if reason is not None:
                skipped.append(Skipped(vocab, spec.label, reason))
                continue
            for seed in t.seeds:
                config = {
                    "data": data,
                    "vocab": vocab,
                    "masking": masking_config(spec).to_dict(),
                    # Only when not the default, so recipes without objectives keep their keys.
                    **({"objective": spec.objective} if spec.objective != "tokens" else {}),
                    "model": model_identity(recipe.model),
                    "ds_config": ds_config,
                    "steps": budget.steps,
                    "seed": seed,
                    "world_size": budget.world_size,
                    "eval_every": budget.every(t.evals),
                    "eval_samples": t.eval_samples,
                    "log_every": budget.every(t.logs),
                    "num_workers": t.num_workers,
                }
                cells.append(Cell(vocab, spec, seed, config))
    return cells, skipped
