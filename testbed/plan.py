"""The testbed's plan: which cells run, with what budget, under which key, by which command.

Everything here is pure arithmetic and string building on a parsed recipe, so the dry run, the
real run and the tests share it. Two rules carry the testbed's fairness:

* every cell sees the same number of **bases** (not steps or tokens: vocabularies compress
  differently). Each training sample is one window of ``window`` bases, so
  ``steps = ceil(bases / (global batch x window))`` and every cell gets the same steps;
* a cell's key is the sha256 of its resolved configuration (data identity, vocabulary, masking,
  model, DeepSpeed JSON, steps, seed, ranks). A finished cell with the same key is never rerun;
  change anything that defines it and it gets a new key and a new run directory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.recipe import ROOT, MaskingSpec, Recipe, RecipeError

KEY_CHARS = 10  # hex digits of a key shown in directory names


def canonical_hash(obj: Any) -> str:
    """sha256 of ``obj`` as canonical JSON (sorted keys, no whitespace): stable across runs,
    key orders and machines."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


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
    from data_prep.vocab import N_SPECIAL, VocabSpec

    spec = VocabSpec.parse(name)
    content = {
        "char": 5,
        "kmer-overlap": 4**spec.k,
        "kmer-disjoint": 4**spec.k + 5,
        "bpe": spec.bpe_size - N_SPECIAL,
    }[spec.family]
    return VocabShape(name, spec.family, spec.k, N_SPECIAL + content)


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


def shard_params(recipe: Recipe) -> dict[str, Any]:
    """Exactly what ``data_prep/shard.py`` writes as ``manifest.json["params"]``."""
    c = recipe.corpus
    return {
        "inputs": list(c.sources),
        "vocabs": list(recipe.vocabs),
        "window": c.window,
        "stride": c.stride,
        "val_records": list(c.val_records),
        "val_fraction": 0.0
        if c.val_records
        else (0.05 if c.val_fraction is None else c.val_fraction),
        "max_n_frac": c.max_n_frac,
        "seed": c.seed,
        "format": "mds",
        "bpe_train_bases": c.bpe_train_bases,
    }


def source_digests(recipe: Recipe) -> list[str | None]:
    """sha256 of each source: the registry's pinned digest, a FASTA path's content digest, or
    None for a path that is absent (only a dry run gets that far without data)."""
    from data_prep.sources import SOURCES
    from dnapt.hashing import sha256_file

    out: list[str | None] = []
    for s in recipe.corpus.sources:
        if s in SOURCES:
            out.append(SOURCES[s].sha256)
        else:
            out.append(sha256_file(Path(s)) if Path(s).is_file() else None)
    return out


def data_identity(recipe: Recipe, digests: list[str | None]) -> dict[str, Any]:
    """The data part of every cell key: shard parameters (less the vocabulary list, so adding a
    vocabulary to a recipe keeps the other cells' keys) and the sources' content digests."""
    params = shard_params(recipe)
    del params["vocabs"]
    return {"shard_params": params, "sources_sha256": digests}


def model_identity(model: str) -> Any:
    """A preset name, or the content of a model config JSON (its path may differ per machine)."""
    path = Path(model)
    return json.loads(path.read_text()) if path.is_file() else model


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


def python() -> list[str]:
    return [sys.executable]


def shard_command(recipe: Recipe, shards: Path, overwrite: bool) -> list[str]:
    c = recipe.corpus
    cmd = [*python(), str(ROOT / "data_prep" / "shard.py"), "--fasta", *c.sources]
    cmd += ["--out", str(shards), "--vocab", ",".join(recipe.vocabs)]
    cmd += ["--window", str(c.window), "--stride", str(c.stride)]
    if c.val_records:
        cmd += ["--val-records", ",".join(c.val_records)]
    elif c.val_fraction is not None:
        cmd += ["--val-fraction", str(c.val_fraction)]
    cmd += ["--max-n-frac", str(c.max_n_frac), "--seed", str(c.seed)]
    cmd += ["--bpe-train-bases", str(c.bpe_train_bases), "--workers", str(c.workers)]
    return cmd + (["--overwrite"] if overwrite else [])


def verify_command(shards: Path) -> list[str]:
    return [*python(), str(ROOT / "data_prep" / "shard.py"), "verify", str(shards)]


def analysis_command(recipe: Recipe, shards: Path, out: Path) -> list[str]:
    cmd = [*python(), str(ROOT / "data_prep" / "analyze_vocab.py"), "--data", str(shards)]
    cmd += ["--out", str(out)]
    if recipe.bpe_sweep:
        cmd += ["--bpe-sweep", ",".join(str(s) for s in recipe.bpe_sweep)]
    return cmd + list(recipe.analysis_args)


def train_config(
    recipe: Recipe, cell: Cell, budget: Budget, shards: Path, ds_path: Path, run: Path
):
    """The cell's ``trainer.config.TrainConfig``: the testbed hands the trainer this typed
    config (as the argv ``dnapt.cli.to_argv`` derives from it), never flags built by hand."""
    from trainer.config import TrainConfig

    t = recipe.train
    return TrainConfig(
        ds_config=ds_path,
        data=str(shards / cell.vocab),
        out=run,
        model=recipe.model,
        masking=masking_config(cell.masking),
        objective=cell.masking.objective,
        max_steps=budget.steps,
        seed=cell.seed,
        resume="auto",
        save_every=budget.every(t.checkpoints),
        keep_last=t.keep_last,
        eval_every=budget.every(t.evals),
        eval_samples=t.eval_samples,
        log_every=budget.every(t.logs),
        num_workers=t.num_workers,
        dist_timeout=t.dist_timeout,
    )


def trainer_args(
    recipe: Recipe, cell: Cell, budget: Budget, shards: Path, ds_path: Path, run: Path
) -> list[str]:
    from dnapt.cli import to_argv

    return to_argv(train_config(recipe, cell, budget, shards, ds_path, run))


def train_command(
    recipe: Recipe,
    cell: Cell,
    budget: Budget,
    shards: Path,
    ds_path: Path,
    run: Path,
    node_rank: int | None = None,
    master_addr: str | None = None,
) -> list[str]:
    """One cell's training command. A single local rank runs ``trainer/run.py`` directly (the
    trainer runs as one process without a launcher, and skips the launcher's start-up); any other
    layout goes through ``trainer.launch`` (the DeepSpeed launcher: local ranks, a hostfile, or
    node-rank mode)."""
    lc = recipe.launcher
    targs = trainer_args(recipe, cell, budget, shards, ds_path, run)
    if lc.mode == "local" and lc.nproc == 1:
        return [*python(), str(ROOT / "trainer" / "run.py"), *targs]
    cmd = [*python(), "-m", "trainer.launch", "--nproc", str(lc.nproc)]
    cmd += ["--master-port", str(lc.master_port)]
    if lc.mode == "hostfile":
        cmd += ["--hostfile", str(lc.hostfile), "--launcher", lc.backend]
    elif lc.mode == "node-rank":
        addr = master_addr or lc.master_addr
        rank = 0 if node_rank is None else node_rank
        cmd += ["--nnodes", str(lc.nnodes), "--node-rank", str(rank)]
        cmd += ["--master-addr", addr or "MASTER_ADDR"]
    return [*cmd, "--", *targs]


def on_gpu() -> bool:
    """Whether stage commands here run on GPUs (launch.sh sets DS_ACCELERATOR from nvidia-smi)."""
    accel = os.environ.get("DS_ACCELERATOR")
    return accel == "cuda" if accel else shutil.which("nvidia-smi") is not None


def suite_files(recipe: Recipe) -> list[Path]:
    """The spec files of the recipe's suite (eval/suites/NAME/*.toml), sorted."""
    return sorted((ROOT / "eval" / "suites" / str(recipe.eval.suite)).glob("*.toml"))


def suite_key(recipe: Recipe) -> str:
    """The built suite depends on its spec files' content (their genomes and annotations are
    registry names, pinned by sha256). Like the cell keys, it does not cover the code version:
    after changing the builder, use a new ``--out``."""
    return canonical_hash(
        {"suite": recipe.eval.suite, "specs": {p.name: p.read_text() for p in suite_files(recipe)}}
    )


def suite_command(recipe: Recipe, out: Path) -> list[str]:
    cmd = [*python(), str(ROOT / "eval" / "make_task.py"), "--suite", str(recipe.eval.suite)]
    return [*cmd, "--out", str(out), "--overwrite"]


def benchmark_path(recipe: Recipe, suite_dir: Path | None = None) -> Path | None:
    """The built suite (``suite_dir``) when the recipe names one, else the recipe's benchmark,
    else the data mirror's (what eval/audit.py would use)."""
    if recipe.eval.suite is not None:
        return suite_dir
    if recipe.eval.benchmark is not None:
        return recipe.eval.benchmark
    mirror = os.environ.get("DNAPT_DATA_MIRROR")
    return Path(mirror) / "benchmark" if mirror else None


def analysis_key(recipe: Recipe, manifest: bytes) -> str:
    """The vocabulary report depends on the shards (their manifest) and the analysis options."""
    return canonical_hash(
        {
            "manifest": hashlib.sha256(manifest).hexdigest(),
            "sweep": list(recipe.bpe_sweep),
            "args": list(recipe.analysis_args),
        }
    )


def audit_key(recipe: Recipe) -> str:
    e = recipe.eval
    bench = f"suite:{suite_key(recipe)}" if e.suite else str(benchmark_path(recipe))
    return canonical_hash(
        {
            "benchmark": bench,
            "tasks": list(e.tasks),
            "dedup": e.dedup,
            "args": list(e.audit_args),
        }
    )


def eval_key(recipe: Recipe, curated_sha256: str) -> str:
    """Scores depend on the curated list's content and the protocol, not on file paths."""
    e = recipe.eval
    return canonical_hash(
        {
            "curated": curated_sha256,
            "protocol": e.protocol,
            "seeds": e.seeds,
            "args": list(e.run_args),
        }
    )


def audit_command(recipe: Recipe, out: Path, suite_dir: Path | None = None) -> list[str]:
    e = recipe.eval
    cmd = [*python(), str(ROOT / "eval" / "audit.py"), "--out", str(out)]
    bench = benchmark_path(recipe, suite_dir)
    if bench is not None:
        cmd += ["--benchmark", str(bench)]
    cmd += ["--tasks", ",".join(e.tasks) if e.tasks else "all"]
    return cmd + (["--dedup"] if e.dedup else []) + list(e.audit_args)


def eval_command(
    recipe: Recipe,
    checkpoints: list[Path],
    curated: Path,
    out: Path,
    on_gpu: bool,
    suite_dir: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Score ``checkpoints`` on the curated tasks: (command, extra environment). One process runs
    ``eval/run.py`` directly; more go through ``accelerate launch`` (on CPU as gloo processes:
    ``ACCELERATE_USE_CPU=1`` with ``--multi_gpu``, since ``--cpu`` starts only one process)."""
    e = recipe.eval
    script = str(ROOT / "eval" / "run.py")
    env: dict[str, str] = {}
    if e.nproc == 1:
        cmd = [*python(), script]
    else:
        cmd = [*python(), "-m", "accelerate.commands.launch", "--multi_gpu"]
        cmd += ["--num_processes", str(e.nproc), "--num_machines", "1"]
        cmd += ["--mixed_precision", "bf16" if on_gpu else "no", "--dynamo_backend", "no"]
        cmd += ["--main_process_port", str(recipe.launcher.master_port + 1), script]
        if not on_gpu:
            env["ACCELERATE_USE_CPU"] = "1"
    for ckpt in checkpoints:
        cmd += ["--checkpoint", str(ckpt)]
    bench = benchmark_path(recipe, suite_dir)
    if bench is not None:
        cmd += ["--benchmark", str(bench)]
    cmd += ["--tasks", f"curated:{curated}", "--protocol", e.protocol, "--seeds", str(e.seeds)]
    return [*cmd, "--out", str(out), *e.run_args], env
