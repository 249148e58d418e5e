"""The testbed: one recipe runs the vocabulary x masking matrix end to end and reports it.

    python -m testbed RECIPE [--out RESULTS_DIR] [--dry-run] [--node-rank R --master-addr A]
    bash launch.sh testbed RECIPE ...

Steps, each skipped when its output already matches the recipe (so a rerun resumes):

1. shard the corpus once for every vocabulary (skipped when the manifest's parameters and source
   digests match), and verify a fresh shard directory;
2. analyse the vocabularies (``data_prep/analyze_vocab.py``);
3. audit the benchmark (``eval/audit.py``), before any training, so a bad benchmark costs
   seconds, not a matrix;
4. train every valid cell with the same budget in bases (invalid pairs are listed, not run); a
   finished cell (same config key) is skipped, an interrupted one resumes from its checkpoint;
5. score every trained cell not scored yet under the same curated tasks and protocol, in one
   ``eval/run.py`` call (baselines and from-scratch twins come from there);
6. write ``testbed.json``, ``testbed.md`` and the plots, and print the table.

In node-rank mode (clusters without ssh, e.g. Slurm) every node runs this command with its own
``--node-rank``; node 0 does everything, the others wait for the shards and join each training
run in the same order. The results folder must be on a filesystem all nodes share.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from eval.contracts import ContractError, CuratedList
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
from testbed.keys import (
    KEY_CHARS,
    analysis_key,
    audit_key,
    canonical_hash,
    eval_key,
    source_digests,
    suite_key,
)
from testbed.layout import (
    CELL_MARKER,
    KEY_MARKER,
    TIMING_FILE,
    Layout,
    TestbedError,
    read_key,
    results_lock,
)
from testbed.plan import Budget, Cell, enumerate_cells, merged_ds_config, plan_budget
from testbed.process import run_logged, stage_env
from testbed.recipe import Recipe
from testbed.scores import scored_stamp, split_report
from trainer.launch import LaunchError


@dataclass
class Testbed:
    """One execution of a recipe into a results folder."""

    recipe: Recipe
    layout: Layout
    node_rank: int | None = None
    master_addr: str | None = None
    verbose: bool = False
    wait_timeout: float = 7200.0
    command: str = ""  # how this run was invoked, for the reproducibility record
    console: Console = field(default_factory=Console)
    timing: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.started = time.perf_counter()
        self.ds_config = merged_ds_config(self.recipe)
        self.budget: Budget = plan_budget(self.recipe, self.ds_config)
        self.digests = source_digests(self.recipe)
        self.cells, self.skipped = enumerate_cells(
            self.recipe, self.budget, self.ds_config, self.digests
        )

    def timed(self, step: str, skipped: bool, seconds: float) -> None:
        """Record a step's time in this run, and in ``timing.json`` when it executed, so the
        report of a later (skipping) run still shows what each stage cost."""
        self.timing[step] = {"skipped": skipped, "seconds": round(seconds, 1)}
        if skipped or self.node_rank not in (None, 0):
            return
        path = self.layout.out / TIMING_FILE
        last = json.loads(path.read_text()) if path.is_file() else {}
        last[step] = round(seconds, 1)
        path.write_text(json.dumps(last, indent=2) + "\n")

    def say(self, msg: str) -> None:
        self.console.print(f"[bold]testbed[/]: {escape(msg)}", highlight=False, soft_wrap=True)

    def step(
        self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None
    ) -> float:
        """Run one stage command; a failure raises with the log's last lines."""
        self.say(f"{name}: running (log {log})")
        env = {**stage_env(self.recipe), **(env or {})}
        rc, seconds, tail = run_logged(cmd, log, self.verbose, env)
        if rc != 0:
            shown = "\n    ".join(tail)
            raise TestbedError(f"{name} failed (exit {rc}); log {log}; last lines:\n    {shown}")
        self.say(f"{name}: done in {seconds:.0f} s")
        return seconds

    # -- step 1: shards --------------------------------------------------------------------

    def shards_state(self) -> str | None:
        """None when the shard directory matches the recipe, else why it must be (re)made."""
        from data_prep.manifest import Manifest, ManifestError
        from testbed.estimate import manifest_matches

        mpath = self.layout.shards / "manifest.json"
        if not mpath.is_file():
            return "no shards yet"
        try:
            manifest = Manifest.read(mpath, require_digest=False)
        except ManifestError as e:
            return f"the manifest is unusable ({e})"
        if not manifest_matches(manifest, self.recipe):
            return "the manifest's parameters differ from the recipe's"
        have = [s.sha256 for s in manifest.sources]
        if any(d is not None and d != h for d, h in zip(self.digests, have, strict=True)):
            return "a source file changed since sharding"
        return None

    def ensure_shards(self) -> None:
        t0 = time.perf_counter()
        reason = self.shards_state()
        if reason is None:
            self.say(f"shards: up to date ({self.layout.shards})")
            self.timed("shard", True, time.perf_counter() - t0)
            return
        self.say(f"shards: {reason}")
        logs = self.layout.logs
        cmd = shard_command(self.recipe, self.layout.shards, self.layout.shards.exists())
        seconds = self.step("shard", [*cmd, "--no-progress"], logs / "shard.log")
        if self.recipe.corpus.verify:
            seconds += self.step("verify", verify_command(self.layout.shards), logs / "verify.log")
        self.timed("shard", False, seconds)

    def wait_for_shards(self) -> None:
        """Nodes other than 0: node 0 shards; wait until its manifest matches the recipe."""
        deadline = time.monotonic() + self.wait_timeout
        while (reason := self.shards_state()) is not None:
            if time.monotonic() > deadline:
                raise TestbedError(
                    f"node {self.node_rank}: no matching shards at {self.layout.shards} after "
                    f"{self.wait_timeout:.0f} s ({reason}); is node 0 running, on a shared disk?"
                )
            time.sleep(10)

    # -- step 2: vocabulary analysis ---------------------------------------------------------

    def ensure_analysis(self) -> None:
        out = self.layout.vocab_report
        key = analysis_key(self.recipe, (self.layout.shards / "manifest.json").read_bytes())
        if read_key(out) == key and (out / "vocab_report.json").is_file():
            self.say(f"analysis: up to date ({out})")
            self.timed("analysis", True, 0.0)
            return
        shutil.rmtree(out, ignore_errors=True)
        cmd = analysis_command(self.recipe, self.layout.shards, out)
        seconds = self.step("analysis", cmd, self.layout.logs / "analysis.log")
        (out / KEY_MARKER).write_text(key + "\n")
        self.timed("analysis", False, seconds)

    # -- step 3: audit -----------------------------------------------------------------------

    def ensure_suite(self) -> None:
        """Build the recipe's task suite into RESULTS/suite once, keyed by its spec files."""
        out = self.layout.suite
        key = suite_key(self.recipe)
        if read_key(out) == key:
            self.say(f"suite: up to date ({out})")
            self.timed("suite", True, 0.0)
            return
        shutil.rmtree(out, ignore_errors=True)
        cmd = suite_command(self.recipe, out)
        seconds = self.step("suite", cmd, self.layout.logs / "suite.log")
        (out / KEY_MARKER).write_text(key + "\n")
        self.timed("suite", False, seconds)

    def ensure_audit(self) -> Path:
        if self.recipe.eval.suite:
            self.ensure_suite()
        out = self.layout.audit
        key = audit_key(self.recipe)
        curated = out / "curated.json"
        if read_key(out) == key and curated.is_file():
            self.say(f"audit: up to date ({out})")
            self.timed("audit", True, 0.0)
            return curated
        shutil.rmtree(out, ignore_errors=True)
        seconds = self.step(
            "audit",
            audit_command(self.recipe, out, self.layout.suite),
            self.layout.logs / "audit.log",
        )
        (out / KEY_MARKER).write_text(key + "\n")
        self.timed("audit", False, seconds)
        return curated

    # -- step 4: training --------------------------------------------------------------------

    def run_dir(self, cell: Cell) -> Path:
        return self.layout.runs / cell.id

    def is_trained(self, cell: Cell) -> bool:
        marker = self.run_dir(cell) / CELL_MARKER
        if not marker.is_file() or not (self.run_dir(cell) / "hf" / "config.json").is_file():
            return False
        return json.loads(marker.read_text()).get("key") == cell.key

    def trained_stamp(self, cell: Cell) -> float | None:
        """When the cell's training finished: a score is valid for that training only."""
        marker = self.run_dir(cell) / CELL_MARKER
        return json.loads(marker.read_text()).get("started") if marker.is_file() else None

    def train(self, cell: Cell, index: int) -> bool:
        """Train one cell unless it is done; True when it ends trained."""
        run = self.run_dir(cell)
        label = f"train {index}/{len(self.cells)} {cell.id}"
        if self.is_trained(cell):
            self.say(f"{label}: done before, skipped")
            return True
        ckpt = run / "checkpoints" / "latest"
        resumed = ckpt.read_text().strip() if ckpt.is_file() else None
        if resumed:
            self.say(f"{label}: resuming from {resumed}")
        launch = train_command(
            self.recipe,
            cell,
            self.budget,
            self.layout.shards,
            self.layout.ds_config,
            run,
            self.node_rank,
            self.master_addr,
        )
        log = self.layout.logs / "train" / f"{cell.id}.node{self.node_rank or 0}.log"
        started = time.time()
        try:
            launch.prepare()
            seconds = self.step(label, launch.argv, log)
        except (TestbedError, LaunchError) as e:
            self.failures.append(str(e))
            self.console.print(f"[red]{escape(str(e))}[/]", highlight=False, soft_wrap=True)
            return False
        if self.node_rank in (None, 0):
            record = {
                "key": cell.key,
                "id": cell.id,
                "config": cell.config,
                "command": launch.argv,
                "wall_s": round(seconds, 2),
                "started": started,
                "resumed_from": resumed,
                "log": str(log),
            }
            (run / CELL_MARKER).write_text(json.dumps(record, indent=2) + "\n")
        return True

    def write_ds_config(self) -> None:
        path = self.layout.ds_config
        text = json.dumps(self.ds_config, indent=2) + "\n"
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def train_all(self) -> list[Cell]:
        self.write_ds_config()
        for s in self.skipped:
            self.say(f"skip {s.vocab} x {s.masking}: {s.reason}")
        t0 = time.perf_counter()
        ran = [c for c in self.cells if not self.is_trained(c)]
        done = [c for i, c in enumerate(self.cells, 1) if self.train(c, i)]
        self.timed("train", len(done) == len(self.cells) and not ran, time.perf_counter() - t0)
        return done

    # -- step 5: scoring ---------------------------------------------------------------------

    def scores_dir(self, curated: Path) -> Path:
        digest = canonical_hash(curated.read_text())
        return self.layout.eval / eval_key(self.recipe, digest)[:KEY_CHARS]

    def score(self, cells: list[Cell], curated: Path) -> None:
        """Score the trained cells that have no score yet, in one eval/run.py call."""
        t0 = time.perf_counter()
        folder = self.scores_dir(curated)
        stamps = {c.id: self.trained_stamp(c) for c in cells}
        pending = [c for c in cells if scored_stamp(folder, c) != stamps[c.id]]
        try:
            kept = CuratedList.read(curated).tasks
        except ContractError as e:
            raise TestbedError(str(e)) from None
        if not kept:
            self.failures.append("the audit kept no task: nothing to score")
            self.console.print("[red]audit kept no task; no cell can be scored[/]")
            return
        if not pending:
            self.say(f"eval: every trained cell is scored ({folder})")
            self.timed("eval", True, 0.0)
            return
        batch = folder / f"batch-{len(list(folder.glob('batch-*'))) + 1}"
        ckpts = [self.run_dir(c) / "hf" for c in pending]
        cmd, env = eval_command(self.recipe, ckpts, curated, batch, on_gpu(), self.layout.suite)
        try:
            self.step(f"eval ({len(pending)} checkpoints)", cmd, self.layout.logs / "eval.log", env)
            split_report(batch / "report.json", pending, folder, stamps)
        except TestbedError as e:
            self.failures.append(str(e))
            self.console.print(f"[red]{escape(str(e))}[/]", highlight=False, soft_wrap=True)
        self.timed("eval", False, time.perf_counter() - t0)

    # -- the whole run -----------------------------------------------------------------------

    def run(self) -> int:
        t0 = self.started
        self.layout.out.mkdir(parents=True, exist_ok=True)
        self.say(
            f"recipe {self.recipe.name}: {len(self.cells)} runs ({len(self.skipped)} pairs "
            f"invalid), {self.budget.steps} steps each; results {self.layout.out}"
        )
        if self.node_rank not in (None, 0):
            self.wait_for_shards()
            self.train_all()
            return 1 if self.failures else 0
        with results_lock(self.layout.out):
            return self.run_all(t0)

    def run_all(self, t0: float) -> int:
        """Node 0 (or a single machine): every step, then the report."""
        self.ensure_shards()
        if self.recipe.analysis:
            try:
                self.ensure_analysis()
            except TestbedError as e:
                self.failures.append(str(e))
                self.console.print(f"[red]{escape(str(e))}[/]", highlight=False, soft_wrap=True)
        curated = self.ensure_audit()
        trained = self.train_all()
        self.score(trained, curated)
        t1 = time.perf_counter()
        from testbed.collect import collect

        tb = collect(self, curated, total_s=t1 - t0)
        self.report(tb)
        self.say(
            f"finished in {time.perf_counter() - t0:.0f} s; report {self.layout.out / 'testbed.md'}"
        )
        if self.failures:
            self.console.print(f"[red]{len(self.failures)} step(s) failed; see the logs above[/]")
            return 1
        return 0

    def report(self, tb: dict[str, Any]) -> None:
        from testbed.render import print_table, write_outputs

        paths = write_outputs(tb, self.layout.out)
        # Off a terminal rich wraps at 80 columns, which folds the table: print it wide.
        print_table(tb, self.console if self.console.is_terminal else Console(width=180))
        self.say("wrote " + ", ".join(str(p) for p in paths))
