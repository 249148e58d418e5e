"""``--dry-run``: print the plan of a recipe, its counts and cost, and every command, with no data.

Nothing is run or written. Counts come from a matching manifest when one exists and otherwise
from record lengths (``testbed.estimate`` says which, and what is an upper bound).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console

from testbed.commands import (
    analysis_command,
    audit_command,
    eval_command,
    on_gpu,
    shard_command,
    suite_command,
    train_command,
    verify_command,
)
from testbed.estimate import cell_cost, corpus_counts
from testbed.keys import source_digests
from testbed.plan import enumerate_cells, merged_ds_config, plan_budget
from testbed.recipe import Recipe


def _si(x: float) -> str:
    for unit, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {unit}"
    return f"{x:.0f}"


def _bytes(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def dry_run_lines(recipe: Recipe, out: Path, shards: Path) -> list[str]:
    """The dry run's report as lines of text (tested directly)."""
    ds = merged_ds_config(recipe)
    budget = plan_budget(recipe, ds)
    cells, skipped = enumerate_cells(recipe, budget, ds, source_digests(recipe))
    counts = corpus_counts(recipe, shards)
    kind = "exact" if counts.exact else "upper bounds: windows dropped for N are unknown"
    lines = [
        f"dnapt testbed dry run: recipe '{recipe.name}' ({recipe.path})",
        f"results {out}; shards {shards}",
        "",
        f"corpus: {', '.join(recipe.corpus.sources)}",
        f"  counts: {counts.source} ({kind})",
        f"  window {recipe.corpus.window} bases, stride {recipe.corpus.stride}",
    ]
    for split in ("train", "val"):
        lines.append(
            f"  {split:5} {counts.windows[split]:>14,} windows {counts.bases[split]:>18,} bases"
        )
    lines += ["", "vocabularies (tokens exact for char/k-mer on N-free windows; BPE assumed):"]
    lines.append(
        f"  {'vocab':16} {'size':>8} {'train tokens':>16} {'val tokens':>14} {'max/window':>10}  "
        "shard size"
    )
    for name, v in counts.vocabs.items():
        lines.append(
            f"  {name:16} {v.size:>8,} {v.tokens['train']:>16,} {v.tokens['val']:>14,} "
            f"{v.max_tokens:>10,}  {_bytes(v.shard_bytes)} {v.bytes_kind}"
        )
    epochs = budget.bases_seen / max(counts.bases["train"], 1)
    lines += [
        "",
        f"budget per run: {budget.bases:,} bases; global batch {budget.global_batch} windows "
        f"= {budget.micro_batch} micro x {budget.grad_accum} accumulation x {budget.world_size} "
        f"ranks; steps = ceil({budget.bases:,} / ({budget.global_batch} x {budget.window})) = "
        f"{budget.steps:,}; bases seen {budget.bases_seen:,} ({epochs:.2f} epochs)",
        f"matrix: {len(recipe.vocabs)} vocabularies x {len(recipe.masking)} maskings; "
        f"{len(skipped)} invalid pairs skipped; {len(cells)} runs "
        f"({len(recipe.train.seeds)} training seed(s) each)",
    ]
    lines += [f"  skip {s.vocab} x {s.masking}: {s.reason}" for s in skipped]
    c = recipe.cost
    lines += [
        "",
        f"compute per run (6ND + 6LTdD, D = tokens processed, padded to max length; "
        f"{c.gpu} at {c.peak_tflops:g} TFLOP/s peak, {c.mfu:.0%} MFU):",
        f"  {'vocab':16} {'params':>10} {'FLOP params':>12} {'max len':>8} {'tokens':>12} "
        f"{'FLOPs':>10} {'GPU-h':>9}",
    ]
    costs = {v: cell_cost(recipe, budget, v, counts) for v in dict.fromkeys(x.vocab for x in cells)}
    for v, k in costs.items():
        lines.append(
            f"  {v:16} {_si(k.model.params):>10} {_si(k.model.flop_params):>12} "
            f"{k.model.max_len:>8,} {_si(k.tokens):>12} {_si(k.flops):>10} {k.gpu_hours:>9,.2f}"
        )
    total_flops = sum(costs[x.vocab].flops for x in cells)
    total_hours = sum(costs[x.vocab].gpu_hours for x in cells)
    lines += [
        f"  total over {len(cells)} runs: {_si(total_flops)}FLOPs = {total_hours:,.1f} GPU-hours "
        f"(training only; eval is not included)",
        "",
        "commands, in order (each step is skipped when its output already matches):",
        "  # 1. shard (then verify)",
        "  " + shlex.join([*shard_command(recipe, shards, shards.exists()), "--no-progress"]),
        "  " + shlex.join(verify_command(shards)),
    ]
    if recipe.analysis:
        lines += ["  # 2. vocabulary analysis"]
        lines.append("  " + shlex.join(analysis_command(recipe, shards, out / "vocab_report")))
    suite = out / "suite" if recipe.eval.suite else None
    lines += ["  # 3. benchmark audit"]
    if suite is not None:
        lines.append(f"  # the task suite '{recipe.eval.suite}' is built first, once")
        lines.append("  " + shlex.join(suite_command(recipe, suite)))
    lines.append("  " + shlex.join(audit_command(recipe, out / "audit", suite)))
    lines.append(f"  # 4. training, {len(cells)} runs")
    if recipe.launcher.mode == "node-rank":
        lines.append(
            f"  # node-rank mode: every node R in 0..{recipe.launcher.nnodes - 1} runs "
            f"'bash launch.sh testbed {recipe.path} --node-rank R --master-addr ADDR'; node R's "
            "training commands carry its --node-rank"
        )
    ds_path = out / "ds_config.json"
    for cell in cells:
        launch = train_command(recipe, cell, budget, shards, ds_path, out / "runs" / cell.id)
        lines.append("  " + shlex.join(launch.argv))
    ckpts = [out / "runs" / c.id / "hf" for c in cells]
    curated = out / "audit" / "curated.json"
    scores = out / "eval" / "EVAL_KEY" / "batch-1"
    cmd, env = eval_command(recipe, ckpts, curated, scores, on_gpu(), suite)
    prefix = " ".join(f"{k}={v}" for k, v in env.items())
    lines += [
        "  # 5. scoring (every run not yet scored, in one call; EVAL_KEY: hash of curated.json + protocol)"
    ]
    lines.append("  " + (prefix + " " if prefix else "") + shlex.join(cmd))
    lines += ["  # 6. report: testbed.json, testbed.md, loss_curves.png, bphb_vs_mcc.png"]
    return lines


def print_dry_run(recipe: Recipe, out: Path, shards: Path, console: Console) -> None:
    for line in dry_run_lines(recipe, out, shards):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
