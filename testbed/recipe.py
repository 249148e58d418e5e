"""Testbed recipes: one TOML file fixes every choice of a vocabulary x masking experiment.

A recipe is the unit of reproducibility, so it is parsed strictly: every key is known, typed and
range-checked here, and a bad value fails with one line naming the file, the field and the fix
before anything runs. Relative paths in a recipe are relative to the repository root (where
``launch.sh`` runs), so a recipe means the same thing from any working directory. The schema is
documented key by key in docs/testbed.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_MODES = ("local", "hostfile", "node-rank")
PROTOCOLS = ("probe", "finetune")


class RecipeError(ValueError):
    """A recipe that cannot run; the message is one line naming the file, field and fix."""


@dataclass(frozen=True)
class CorpusSpec:
    """What ``data_prep/shard.py`` is asked to produce (all lengths in bases)."""

    sources: tuple[str, ...]
    window: int
    stride: int
    val_fraction: float | None
    val_records: tuple[str, ...]
    max_n_frac: float
    bpe_train_bases: int
    seed: int
    workers: int
    shards: Path | None
    verify: bool
    expected_record_lengths: dict[str, int]


@dataclass(frozen=True)
class MaskingSpec:
    """One masking column of the matrix: a label, ``trainer.masking.MaskingConfig`` fields and
    the training objective (``tokens`` or ``hidden-bases``, the trainer's ``--objective``)."""

    label: str
    strategy: str
    params: dict[str, float | int]
    objective: str = "tokens"
    vocabs: tuple[str, ...] = ()  # the vocabularies it runs on; empty: all of the recipe's


@dataclass(frozen=True)
class TrainSpec:
    """How every cell is trained; counts over the run, so they hold for any budget."""

    seeds: tuple[int, ...]
    checkpoints: int
    evals: int
    logs: int
    eval_samples: int
    num_workers: int
    keep_last: int
    dist_timeout: float


@dataclass(frozen=True)
class EvalSpec:
    """Audit and scoring of every cell's export (``eval/audit.py`` and ``eval/run.py``)."""

    protocol: str
    seeds: int
    tasks: tuple[str, ...]
    benchmark: Path | None
    dedup: bool
    nproc: int
    run_args: tuple[str, ...]
    audit_args: tuple[str, ...]
    suite: str | None = None  # a curated task suite (eval/suites/NAME), built into RESULTS/suite


@dataclass(frozen=True)
class LauncherSpec:
    """Where the ranks of each training run come from."""

    mode: str
    nproc: int
    nnodes: int
    hostfile: Path | None
    backend: str
    master_addr: str | None
    master_port: int
    cpu_threads: int | None

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes


@dataclass(frozen=True)
class CostSpec:
    """The accelerator assumed by the dry run's GPU-hour estimate."""

    gpu: str = "H100 SXM (bf16 dense)"
    peak_tflops: float = 989.0
    mfu: float = 0.4


@dataclass(frozen=True)
class Recipe:
    """A parsed, validated recipe (``text`` is the file verbatim, for the reproducibility record)."""

    path: Path
    text: str
    name: str
    description: str
    results: Path
    corpus: CorpusSpec
    vocabs: tuple[str, ...]
    analysis: bool
    bpe_sweep: tuple[int, ...]
    analysis_args: tuple[str, ...]
    masking: tuple[MaskingSpec, ...]
    model: str
    ds_config: Path
    ds_override: dict[str, Any]
    budget_bases: int
    train: TrainSpec
    eval: EvalSpec
    launcher: LauncherSpec
    cost: CostSpec = field(default_factory=CostSpec)


def repo_path(value: str) -> Path:
    """A recipe path: absolute as given, relative ones against the repository root."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else ROOT / p


class _Table:
    """Typed, range-checked access to one TOML table; remembers which keys were read."""

    def __init__(self, file: Path, name: str, data: Any) -> None:
        self.file, self.name = file, name
        if not isinstance(data, dict):
            self.fail("", "must be a table")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        return f"[{self.name}] {key}" if self.name else key

    def fail(self, key: str, msg: str) -> None:
        raise RecipeError(f"{self.file}: {self.where(key)}: {msg}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., /) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                self.fail(key, "missing (see docs/testbed.md for the recipe schema)")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            self.fail(key, f"expected {_kind_name(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            self.fail(key, f"expected {_kind_name(kinds)}, got {value!r}")
        return value

    def positive(self, key: str, default: Any = ..., /, zero: bool = False) -> int:
        value = self.get(key, int, default)
        if value < 0 or (value == 0 and not zero):
            self.fail(key, f"must be {'>= 0' if zero else '> 0'}, got {value}")
        return value

    def strings(self, key: str, default: Any = ..., /) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, str) and v for v in value):
            self.fail(key, f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    def table(self, key: str, default: Any = ..., /) -> _Table:
        return _Table(
            self.file, f"{self.name}.{key}" if self.name else key, self.get(key, dict, default)
        )

    def done(self) -> None:
        """Every key must have been read: a typo must not silently fall back to a default."""
        extra = sorted(set(self.data) - self.used)
        if extra:
            self.fail(extra[0], f"unknown key (known: {', '.join(sorted(self.used))})")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false"}
    names.update({list: "a list", dict: "a table"})
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _source(value: str) -> str:
    """Registry names stay names; anything else is a FASTA path (made absolute)."""
    from data_prep.sources import SOURCES

    return value if value in SOURCES else str(repo_path(value).resolve())


def _shard_default(name: str) -> Any:
    """A default of ``data_prep/shard.py`` (a recipe that omits the key means what shard.py means)."""
    from dataclasses import fields

    from data_prep.shard import ShardConfig

    return next(f.default for f in fields(ShardConfig) if f.name == name)


def _corpus(t: _Table) -> CorpusSpec:
    sources = t.strings("sources")
    if not sources:
        t.fail("sources", "list at least one registry name or FASTA path")
    window = t.positive("window")
    if window < 8:
        t.fail("window", f"{window} bases is too short: use at least 8")
    stride = t.positive("stride", window)
    val_records = t.strings("val_records", [])
    val_fraction = t.get("val_fraction", float, None)
    if val_records and val_fraction is not None:
        t.fail("val_fraction", "set either val_records or val_fraction, not both")
    if val_fraction is not None and not 0.0 <= val_fraction < 1.0:
        t.fail("val_fraction", f"must be in [0, 1), got {val_fraction}")
    max_n = t.get("max_n_frac", float, 0.0)
    if not 0.0 <= max_n <= 1.0:
        t.fail("max_n_frac", f"must be in [0, 1], got {max_n}")
    shards = t.get("shards", str, None)
    lengths = t.table("expected_record_lengths", {})
    expected = {name: lengths.positive(name) for name in list(lengths.data)}
    spec = CorpusSpec(
        sources=tuple(_source(s) for s in sources),
        window=window,
        stride=stride,
        val_fraction=val_fraction,
        val_records=val_records,
        max_n_frac=max_n,
        bpe_train_bases=t.positive("bpe_train_bases", _shard_default("bpe_train_bases")),
        seed=t.positive("seed", 0, zero=True),
        workers=t.positive("workers", 1),
        shards=repo_path(shards) if shards else None,
        verify=t.get("verify", bool, True),
        expected_record_lengths=expected,
    )
    t.done()
    return spec


def _vocab(t: _Table) -> tuple[tuple[str, ...], bool, tuple[int, ...], tuple[str, ...]]:
    from data_prep.vocab import VocabError, VocabSpec

    names = t.strings("names")
    if not names:
        t.fail("names", "list at least one vocabulary")
    if len(set(names)) != len(names):
        t.fail("names", f"lists a vocabulary twice: {', '.join(names)}")
    for n in names:
        try:
            VocabSpec.parse(n)
        except VocabError as e:
            t.fail("names", str(e))
    sweep = t.get("bpe_sweep", list, [])
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 16 for s in sweep):
        t.fail("bpe_sweep", f"must be a list of BPE sizes >= 16, got {sweep!r}")
    analysis = t.get("analysis", bool, True)
    args = t.strings("analysis_args", [])
    t.done()
    return names, analysis, tuple(sweep), args


def _masking(file: Path, entries: Any) -> tuple[MaskingSpec, ...]:
    from dnapt.cli import ConfigError, from_mapping
    from trainer.config import OBJECTIVES
    from trainer.masking import MaskingConfig

    if not isinstance(entries, list) or not entries:
        raise RecipeError(
            f"{file}: [[masking]]: give at least one [[masking]] table with a strategy"
        )
    out, labels = [], set()
    for i, raw in enumerate(entries):
        t = _Table(file, f"masking.{i}", raw)
        strategy = t.get("strategy", str)
        label = t.get("label", str, strategy)
        objective = t.get("objective", str, "tokens")
        only = t.strings("vocabs", [])
        if objective not in OBJECTIVES:
            t.fail("objective", f"'{objective}': use one of {', '.join(OBJECTIVES)}")
        # The masking parameters are MaskingConfig's own fields, typed and checked by it.
        params = {
            f.name: t.data[f.name]
            for f in fields(MaskingConfig)
            if f.name != "strategy" and f.name in t.data
        }
        t.used.update(params)
        t.done()
        try:
            from_mapping(MaskingConfig, {"strategy": strategy, **params}, f"[masking.{i}]", " ")
        except ConfigError as e:  # names the key itself
            raise RecipeError(f"{file}: {e}") from None
        except ValueError as e:  # MaskingConfig's cross-field checks
            t.fail("strategy", str(e))
        if label in labels:
            t.fail("label", f"'{label}' used twice: give each [[masking]] a distinct label")
        if not label.replace("-", "").replace("_", "").isalnum():
            t.fail("label", f"'{label}': use letters, digits, '-' and '_' (it names run dirs)")
        labels.add(label)
        out.append(MaskingSpec(label, strategy, params, objective, only))
    return tuple(out)


def _model(t: _Table) -> str:
    from trainer.models import PRESETS

    preset = t.get("preset", str)
    if preset not in PRESETS:
        if not repo_path(preset).is_file():
            t.fail(
                "preset",
                f"'{preset}' is neither a preset ({', '.join(PRESETS)}) nor a model config JSON",
            )
        preset = str(repo_path(preset))
    t.done()
    return preset


def _deepspeed(t: _Table) -> tuple[Path, dict[str, Any]]:
    path = repo_path(t.get("config", str))
    if not path.is_file():
        t.fail("config", f"{path} does not exist (see ds_configs/)")
    override = t.get("override", dict, {})
    t.done()
    return path, override


def _budget(t: _Table) -> int:
    bases = t.positive("bases")
    t.done()
    return bases


def _train(t: _Table) -> TrainSpec:
    seeds = t.get("seeds", list, [0])
    if not seeds or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds
    ):
        t.fail("seeds", f"must be a non-empty list of integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        t.fail("seeds", f"lists a seed twice: {seeds}")
    dist_timeout = t.get("dist_timeout", float, 600.0)
    if dist_timeout <= 0:
        t.fail("dist_timeout", f"must be > 0, got {dist_timeout}")
    spec = TrainSpec(
        seeds=tuple(seeds),
        checkpoints=t.positive("checkpoints", 1),
        evals=t.positive("evals", 1),
        logs=t.positive("logs", 50),
        eval_samples=t.positive("eval_samples", 512),
        num_workers=t.positive("num_workers", 1, zero=True),
        keep_last=t.positive("keep_last", 1),
        dist_timeout=dist_timeout,
    )
    t.done()
    return spec


def _eval(t: _Table) -> EvalSpec:
    protocol = t.get("protocol", str, "probe")
    if protocol not in PROTOCOLS:
        t.fail("protocol", f"'{protocol}': use one of {', '.join(PROTOCOLS)}")
    tasks = t.get("tasks", (str, list), "all")
    if isinstance(tasks, str):
        if tasks != "all":
            t.fail("tasks", f"'{tasks}': use \"all\" or a list of 'source/task' ids")
        tasks = []
    elif not tasks or not all(isinstance(x, str) and x.count("/") == 1 for x in tasks):
        t.fail("tasks", f"must be \"all\" or a list of 'source/task' ids, got {tasks!r}")
    benchmark = t.get("benchmark", str, None)
    suite = t.get("suite", str, None)
    if suite is not None:
        if benchmark is not None:
            t.fail("suite", "a suite is its own benchmark: remove 'benchmark' or 'suite'")
        if not sorted((ROOT / "eval" / "suites" / suite).glob("*.toml")):
            t.fail("suite", f"'{suite}': no eval/suites/{suite}/*.toml")
    spec = EvalSpec(
        protocol=protocol,
        seeds=t.positive("seeds", 3),
        tasks=tuple(tasks),
        benchmark=repo_path(benchmark) if benchmark else None,
        dedup=t.get("dedup", bool, False),
        nproc=t.positive("nproc", 1),
        run_args=t.strings("run_args", []),
        audit_args=t.strings("audit_args", []),
        suite=suite,
    )
    t.done()
    return spec


def _launcher(t: _Table) -> LauncherSpec:
    from trainer.launch import LAUNCHERS

    mode = t.get("mode", str, "local")
    if mode not in LAUNCH_MODES:
        t.fail("mode", f"'{mode}': use one of {', '.join(LAUNCH_MODES)}")
    hostfile = t.get("hostfile", str, None)
    if mode == "hostfile" and not hostfile:
        t.fail("hostfile", 'mode = "hostfile" needs hostfile = "PATH" (\'HOST slots=N\' lines)')
    if mode != "hostfile" and hostfile:
        t.fail("hostfile", f'only used with mode = "hostfile" (mode is "{mode}")')
    nnodes = t.positive("nnodes", 1)
    if mode == "local" and nnodes != 1:
        t.fail("nnodes", 'mode = "local" is one node: use mode = "node-rank" or "hostfile"')
    port = t.positive("master_port", 29500)
    if not 1024 <= port <= 65535:
        t.fail("master_port", f"{port}: use a port in 1024-65535")
    backend = t.get("backend", str, "pdsh")
    if backend not in LAUNCHERS:
        t.fail("backend", f"'{backend}': use one of {', '.join(LAUNCHERS)}")
    spec = LauncherSpec(
        mode=mode,
        nproc=t.positive("nproc", 1),
        nnodes=nnodes,
        hostfile=repo_path(hostfile) if hostfile else None,
        backend=backend,
        master_addr=t.get("master_addr", str, None),
        master_port=port,
        cpu_threads=t.get("cpu_threads", int, None),
    )
    if spec.cpu_threads is not None and spec.cpu_threads < 1:
        t.fail("cpu_threads", f"must be >= 1, got {spec.cpu_threads}")
    t.done()
    return spec


def _cost(t: _Table) -> CostSpec:
    d = CostSpec()
    peak = t.get("peak_tflops", float, d.peak_tflops)
    mfu = t.get("mfu", float, d.mfu)
    if peak <= 0:
        t.fail("peak_tflops", f"must be > 0, got {peak}")
    if not 0 < mfu <= 1:
        t.fail("mfu", f"must be in (0, 1], got {mfu}")
    spec = CostSpec(gpu=t.get("gpu", str, d.gpu), peak_tflops=peak, mfu=mfu)
    t.done()
    return spec


def load_recipe(path: str | Path) -> Recipe:
    """Parse and validate a recipe file; any problem raises ``RecipeError`` (one line)."""
    import tomllib

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise RecipeError(f"{path}: cannot read recipe ({e.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{path}: not valid TOML ({e})") from None
    top = _Table(path, "", data)
    name = top.get("name", str, path.stem)
    if not name.replace("-", "").replace("_", "").isalnum():
        top.fail("name", f"'{name}': use letters, digits, '-' and '_'")
    vocabs, analysis, sweep, analysis_args = _vocab(top.table("vocab"))
    ds_config, ds_override = _deepspeed(top.table("deepspeed"))
    top.used.add("masking")
    recipe = Recipe(
        path=path,
        text=text,
        name=name,
        description=top.get("description", str, ""),
        results=repo_path(top.get("results", str, f"out/testbed/{name}")),
        corpus=_corpus(top.table("corpus")),
        vocabs=vocabs,
        analysis=analysis,
        bpe_sweep=sweep,
        analysis_args=analysis_args,
        masking=_masking(path, data.get("masking")),
        model=_model(top.table("model")),
        ds_config=ds_config,
        ds_override=ds_override,
        budget_bases=_budget(top.table("budget")),
        train=_train(top.table("train", {})),
        eval=_eval(top.table("eval", {})),
        launcher=_launcher(top.table("launcher", {})),
        cost=_cost(top.table("cost", {})),
    )
    top.done()
    for i, m in enumerate(recipe.masking):
        unknown = [v for v in m.vocabs if v not in recipe.vocabs]
        if unknown:
            raise RecipeError(
                f"{path}: [masking.{i}] vocabs: {', '.join(unknown)} not in [vocab] names "
                f"({', '.join(recipe.vocabs)})"
            )
    return recipe
