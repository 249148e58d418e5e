"""Read a recipe file into a ``testbed.recipe.Recipe``, strictly.

A recipe is the unit of reproducibility, so every table goes through ``dnapt.cli.from_mapping``
(unknown keys, wrong types and range errors name the key), then through the checks that span
fields or look at disk (val_records vs val_fraction, hostfile vs mode, suite vs benchmark,
distinct labels and seeds, vocabulary names that parse, files that exist). Any problem is one
``RecipeError`` line naming the file, the key and the fix, before anything runs.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from data_prep.vocab_report import AnalyzeConfig
from dnapt.cli import ConfigError, from_mapping, is_option, option
from eval.config import AuditConfig, RunConfig
from testbed.recipe import (
    ANALYZE_OWNED,
    AUDIT_OWNED,
    ROOT,
    RUN_OWNED,
    BudgetTable,
    CorpusSpec,
    CostSpec,
    DeepSpeedTable,
    EvalSpec,
    LauncherSpec,
    MaskingExtras,
    MaskingSpec,
    ModelTable,
    Recipe,
    RecipeError,
    TrainSpec,
    VocabTable,
    repo_path,
)

T = TypeVar("T")
SCHEMA = "see docs/testbed.md for the recipe schema"
REQUIRED_TABLES = ("corpus", "vocab", "masking", "model", "deepspeed", "budget")
OPTIONAL_TABLES = ("train", "eval", "launcher", "cost")


@dataclass(frozen=True)
class _Top:
    """The recipe's top-level keys (besides its tables)."""

    name: str | None = option(None, help="recipe name (default: the file name)")
    description: str = option("", help="one line for the report")
    results: str | None = option(None, help="results folder (default: out/testbed/NAME)")


class _Reader:
    """One recipe file: its tables parsed, its errors prefixed with the file."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    def fail(self, where: str, msg: str) -> NoReturn:
        raise RecipeError(f"{self.path}: {where}: {msg}")

    def table(self, name: str, cls: type[T], required: bool = True) -> T:
        """Table ``name`` as ``cls`` (an absent optional table: all defaults)."""
        if name not in self.data and not required:
            return cls()
        if name not in self.data:
            self.fail(name, f"missing ({SCHEMA})")
        return self.parse(f"[{name}]", cls, self.data[name])

    def parse(self, where: str, cls: type[T], data: Any) -> T:
        if not isinstance(data, dict):
            self.fail(where, f"must be a table, got {data!r}")
        for f in fields(cls):  # type: ignore[arg-type]
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and f.name not in data:
                self.fail(f"{where} {f.name}", f"missing ({SCHEMA})")
        try:
            return from_mapping(cls, data, where, " ")
        except ConfigError as e:
            raise RecipeError(f"{self.path}: {e}") from None

    def stage_config(
        self, where: str, cls: type[T], table: Any, owned: tuple[str, ...], **placeholders: Any
    ) -> T:
        """A stage's own config from a recipe table (``[eval.run]``: ``eval.config.RunConfig``):
        its options only, without the fields the testbed sets per call (``owned``), which get
        ``placeholders`` until then."""
        if not isinstance(table, dict):
            self.fail(where, f"must be a table, got {table!r}")
        for key in owned:
            if key in table:
                self.fail(f"{where} {key}", "set by the testbed for each call: remove it")
        self._options_only(where, cls, table)
        try:
            return from_mapping(cls, {**placeholders, **table}, where, " ")
        except ConfigError as e:
            raise RecipeError(f"{self.path}: {e}") from None
        except ValueError as e:  # the config's own cross-field checks
            self.fail(where, str(e))

    def _options_only(self, where: str, cls: type, table: dict[str, Any]) -> None:
        """A key that is no command-line option could not reach the stage (its argv carries
        options only), so it is an error rather than a value silently dropped."""
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name not in table:
                continue
            if dataclasses.is_dataclass(hints[f.name]) and isinstance(table[f.name], dict):
                inner = f"{where[:-1]}.{f.name}]" if where.endswith("]") else f"{where}.{f.name}"
                self._options_only(inner, hints[f.name], table[f.name])
            elif not is_option(f):
                self.fail(f"{where} {f.name}", "not an option of the stage's command line")

    def strings(self, where: str, values: tuple[str, ...]) -> None:
        if not all(values):
            self.fail(where, f"must be a list of non-empty strings, got {list(values)!r}")


def _source(value: str) -> str:
    """Registry names stay names; anything else is a FASTA path (made absolute)."""
    from data_prep.sources import SOURCES

    return value if value in SOURCES else str(repo_path(value).resolve())


def _shard_default(name: str) -> Any:
    """A default of ``data_prep/shard.py`` (a recipe that omits the key means what shard.py means)."""
    from data_prep.shard import ShardConfig

    return next(f.default for f in fields(ShardConfig) if f.name == name)


def _corpus(r: _Reader) -> CorpusSpec:
    c = r.table("corpus", CorpusSpec)
    if not c.sources:
        r.fail("[corpus] sources", "list at least one registry name or FASTA path")
    r.strings("[corpus] sources", c.sources)
    r.strings("[corpus] val_records", c.val_records)
    if c.window < 8:
        r.fail("[corpus] window", f"{c.window} bases is too short: use at least 8")
    if c.val_records and c.val_fraction is not None:
        r.fail("[corpus] val_fraction", "set either val_records or val_fraction, not both")
    if c.val_fraction is not None and not c.val_fraction < 1.0:
        r.fail("[corpus] val_fraction", f"must be in [0, 1), got {c.val_fraction}")
    if not c.max_n_frac <= 1.0:
        r.fail("[corpus] max_n_frac", f"must be in [0, 1], got {c.max_n_frac}")
    lengths = c.expected_record_lengths
    if not isinstance(lengths, dict):
        r.fail("[corpus] expected_record_lengths", f"must be a table, got {lengths!r}")
    for name, n in lengths.items():
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            r.fail(f"[corpus.expected_record_lengths] {name}", f"must be an integer > 0, got {n!r}")
    return replace(
        c,
        sources=tuple(_source(s) for s in c.sources),
        stride=c.window if c.stride is None else c.stride,
        bpe_train_bases=c.bpe_train_bases or _shard_default("bpe_train_bases"),
        shards=repo_path(c.shards) if c.shards else None,
    )


def _vocab(r: _Reader) -> VocabTable:
    from data_prep.vocab import VocabError, VocabSpec

    v = r.table("vocab", VocabTable)
    if not v.names:
        r.fail("[vocab] names", "list at least one vocabulary")
    if len(set(v.names)) != len(v.names):
        r.fail("[vocab] names", f"lists a vocabulary twice: {', '.join(v.names)}")
    for n in v.names:
        try:
            VocabSpec.parse(n)
        except VocabError as e:
            r.fail("[vocab] names", str(e))
    return v


def _vocab_report(r: _Reader, v: VocabTable) -> AnalyzeConfig:
    return r.stage_config("[vocab.report]", AnalyzeConfig, v.report, ANALYZE_OWNED, data="")


def _masking(r: _Reader) -> tuple[MaskingSpec, ...]:
    from trainer.masking_config import MaskingConfig

    entries = r.data.get("masking")
    if not isinstance(entries, list) or not entries:
        r.fail("[[masking]]", "give at least one [[masking]] table with a strategy")
    config_keys = [f.name for f in fields(MaskingConfig)]
    extra_keys = [f.name for f in fields(MaskingExtras)]
    out: list[MaskingSpec] = []
    for i, raw in enumerate(entries):
        where = f"[masking.{i}]"
        if not isinstance(raw, dict):
            r.fail(where, f"must be a table, got {raw!r}")
        unknown = sorted(set(raw) - set(config_keys) - set(extra_keys))
        if unknown:
            known = ", ".join(sorted(config_keys + extra_keys))
            r.fail(where, f"unknown key(s) {', '.join(unknown)} (known: {known})")
        if "strategy" not in raw:
            r.fail(f"{where} strategy", f"missing ({SCHEMA})")
        # The masking parameters are MaskingConfig's own fields, typed and checked by it; they
        # are kept as written (the cell key hashes the config built from them).
        params = {k: raw[k] for k in config_keys if k != "strategy" and k in raw}
        try:
            from_mapping(MaskingConfig, {"strategy": raw["strategy"], **params}, where, " ")
        except ConfigError as e:
            raise RecipeError(f"{r.path}: {e}") from None
        except ValueError as e:  # MaskingConfig's cross-field checks
            r.fail(f"{where} strategy", str(e))
        extras = r.parse(where, MaskingExtras, {k: raw[k] for k in extra_keys if k in raw})
        label = raw["strategy"] if extras.label is None else extras.label
        if label in (m.label for m in out):
            r.fail(
                f"{where} label", f"'{label}' used twice: give each [[masking]] a distinct label"
            )
        if not label.replace("-", "").replace("_", "").isalnum():
            r.fail(
                f"{where} label", f"'{label}': use letters, digits, '-' and '_' (it names run dirs)"
            )
        spec = MaskingSpec(label, raw["strategy"], params, extras.objective, extras.vocabs)
        out.append(spec)
    return tuple(out)


def _model(r: _Reader) -> str:
    from trainer.models import PRESETS

    preset = r.table("model", ModelTable).preset
    if preset in PRESETS:
        return preset
    if not repo_path(preset).is_file():
        r.fail(
            "[model] preset",
            f"'{preset}' is neither a preset ({', '.join(PRESETS)}) nor a model config JSON",
        )
    return str(repo_path(preset))


def _deepspeed(r: _Reader) -> tuple[Path, dict[str, Any]]:
    d = r.table("deepspeed", DeepSpeedTable)
    path = repo_path(d.config)
    if not path.is_file():
        r.fail("[deepspeed] config", f"{path} does not exist (see ds_configs/)")
    if not isinstance(d.override, dict):
        r.fail("[deepspeed] override", f"must be a table, got {d.override!r}")
    return path, d.override


def _train(r: _Reader) -> TrainSpec:
    t = r.table("train", TrainSpec, required=False)
    if not t.seeds:
        r.fail("[train] seeds", "list at least one seed")
    if len(set(t.seeds)) != len(t.seeds):
        r.fail("[train] seeds", f"lists a seed twice: {list(t.seeds)}")
    return t


def _eval(r: _Reader) -> EvalSpec:
    raw = r.data.get("eval", {})
    given = raw.get("tasks") if isinstance(raw, dict) else None
    if isinstance(given, str):  # "all" stands for the empty list
        if given != "all":
            r.fail("[eval] tasks", f"'{given}': use \"all\" or a list of 'source/task' ids")
        raw = {k: v for k, v in raw.items() if k != "tasks"}
    if not isinstance(raw, dict):
        r.fail("[eval]", f"must be a table, got {raw!r}")
    stages = {k: raw[k] for k in ("run", "audit") if k in raw}
    e = r.parse("[eval]", EvalSpec, {k: v for k, v in raw.items() if k not in stages})
    if isinstance(given, list) and (not e.tasks or not all(x.count("/") == 1 for x in e.tasks)):
        r.fail("[eval] tasks", f"must be \"all\" or a list of 'source/task' ids, got {given!r}")
    e = replace(
        e,
        run=r.stage_config(
            "[eval.run]", RunConfig, stages.get("run", {}), RUN_OWNED, checkpoints=(), out=""
        ),
        audit=r.stage_config(
            "[eval.audit]", AuditConfig, stages.get("audit", {}), AUDIT_OWNED, out=""
        ),
    )
    if e.suite is not None:
        if e.benchmark is not None:
            r.fail("[eval] suite", "a suite is its own benchmark: remove 'benchmark' or 'suite'")
        if not sorted((ROOT / "eval" / "suites" / e.suite).glob("*.toml")):
            r.fail("[eval] suite", f"'{e.suite}': no eval/suites/{e.suite}/*.toml")
    return replace(e, benchmark=repo_path(e.benchmark) if e.benchmark else None)


def _launcher(r: _Reader) -> LauncherSpec:
    lc = r.table("launcher", LauncherSpec, required=False)
    if lc.mode == "hostfile" and not lc.hostfile:
        r.fail(
            "[launcher] hostfile",
            'mode = "hostfile" needs hostfile = "PATH" (\'HOST slots=N\' lines)',
        )
    if lc.mode != "hostfile" and lc.hostfile:
        r.fail("[launcher] hostfile", f'only used with mode = "hostfile" (mode is "{lc.mode}")')
    if lc.mode == "local" and lc.nnodes != 1:
        r.fail(
            "[launcher] nnodes", 'mode = "local" is one node: use mode = "node-rank" or "hostfile"'
        )
    if not 1024 <= lc.master_port <= 65535:
        r.fail("[launcher] master_port", f"{lc.master_port}: use a port in 1024-65535")
    return replace(lc, hostfile=repo_path(lc.hostfile) if lc.hostfile else None)


def _cost(r: _Reader) -> CostSpec:
    c = r.table("cost", CostSpec, required=False)
    if not c.mfu <= 1:
        r.fail("[cost] mfu", f"must be in (0, 1], got {c.mfu}")
    return c


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
    r = _Reader(path, data)
    top_keys = [f.name for f in fields(_Top)]
    known = top_keys + list(REQUIRED_TABLES + OPTIONAL_TABLES)
    unknown = sorted(set(data) - set(known))
    if unknown:
        r.fail("top level", f"unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    top = r.parse("", _Top, {k: data[k] for k in top_keys if k in data})
    name = path.stem if top.name is None else top.name
    if not name.replace("-", "").replace("_", "").isalnum():
        r.fail("name", f"'{name}': use letters, digits, '-' and '_'")
    corpus, vocab, masking = _corpus(r), _vocab(r), _masking(r)
    model = _model(r)
    ds_config, ds_override = _deepspeed(r)
    recipe = Recipe(
        path=path,
        text=text,
        name=name,
        description=top.description,
        results=repo_path(top.results or f"out/testbed/{name}"),
        corpus=corpus,
        vocabs=vocab.names,
        analysis=vocab.analysis,
        bpe_sweep=vocab.bpe_sweep,
        vocab_report=_vocab_report(r, vocab),
        masking=masking,
        model=model,
        ds_config=ds_config,
        ds_override=ds_override,
        budget_bases=r.table("budget", BudgetTable).bases,
        train=_train(r),
        eval=_eval(r),
        launcher=_launcher(r),
        cost=_cost(r),
    )
    for i, m in enumerate(recipe.masking):
        unknown = [v for v in m.vocabs if v not in recipe.vocabs]
        if unknown:
            r.fail(
                f"[masking.{i}] vocabs",
                f"{', '.join(unknown)} not in [vocab] names ({', '.join(recipe.vocabs)})",
            )
    return recipe
