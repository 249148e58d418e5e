"""Recipe parsing: the shipped recipes load, and every bad value is a one-line error naming the
file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.recipe import ROOT, RecipeError
from testbed.recipe_load import load_recipe

MINIMAL = """
name = "t"

[corpus]
sources = ["ecoli_k12"]
window = 128

[vocab]
names = ["char", "kmer6-overlap"]

[[masking]]
strategy = "random"

[model]
preset = "bert-tiny"

[deepspeed]
config = "ds_configs/zero0.json"

[budget]
bases = 40960
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["smoke", "demo", "paper", "findings", "findings-gpu"])
def test_shipped_recipes_load(name: str) -> None:
    recipe = load_recipe(ROOT / "recipes" / f"{name}.toml")
    assert recipe.name == name
    assert recipe.vocabs and recipe.masking and recipe.budget_bases > 0


def test_defaults(tmp_path: Path) -> None:
    r = load_recipe(write(tmp_path, MINIMAL))
    assert r.corpus.stride == 128 and r.corpus.val_fraction is None
    assert r.train.seeds == (0,) and r.eval.protocol == "probe" and r.eval.tasks == ()
    assert r.launcher.mode == "local" and r.launcher.world_size == 1
    assert r.masking[0].label == "random" and r.masking[0].params == {}
    assert r.results == ROOT / "out" / "testbed" / "t"
    assert r.ds_config == ROOT / "ds_configs" / "zero0.json"


CASES = [
    # (old text, new text, expected fragment of the message)
    ("window = 128", "window = -4", "[corpus] window -4: must be > 0"),
    ("window = 128", "window = 4", "[corpus] window: 4 bases is too short"),
    ("window = 128", 'window = "128"', "[corpus] window '128': must be int"),
    ("window = 128", "window = 128\nwindo = 3", "[corpus]: unknown key(s) windo (known: "),
    ("window = 128", "window = 128\nstride = 0", "[corpus] stride 0: must be > 0"),
    ("window = 128", 'window = 128\nval_records = [""]', "[corpus] val_records: must be a list of"),
    (
        "window = 128",
        "window = 128\n[corpus.expected_record_lengths]\nchrI = 0",
        "[corpus.expected_record_lengths] chrI: must be an integer > 0",
    ),
    (
        'names = ["char", "kmer6-overlap"]',
        'names = ["char"]\nbpe_sweep = [8]',
        "[vocab] bpe_sweep 8",
    ),
    (
        "window = 128",
        "window = 128\nval_fraction = 1.5",
        "[corpus] val_fraction: must be in [0, 1)",
    ),
    (
        "window = 128",
        'window = 128\nval_fraction = 0.1\nval_records = ["chrI"]',
        "set either val_records or val_fraction",
    ),
    ('names = ["char", "kmer6-overlap"]', 'names = ["char", "kmer9-overlap"]', "[vocab] names"),
    ('names = ["char", "kmer6-overlap"]', 'names = ["char", "char"]', "lists a vocabulary twice"),
    (
        'strategy = "random"',
        'strategy = "randm"',
        "[masking.0] strategy 'randm': must be one of random",
    ),
    ('strategy = "random"', 'strategy = "random"\nratio = 1.5', "mask ratio 1.5"),
    (
        'strategy = "random"',
        'strategy = "random"\nratio = true',
        "[masking.0] ratio True: must be float",
    ),
    (
        'strategy = "random"',
        'strategy = "random"\n[[masking]]\nstrategy = "random"',
        "[masking.1] label: 'random' used twice",
    ),
    (
        'strategy = "random"',
        'strategy = "random"\nobjective = "bases"',
        "[masking.0] objective 'bases': must be one of tokens, hidden-bases",
    ),
    (
        'strategy = "random"',
        'strategy = "random"\nmask_ratio = 0.2',
        "[masking.0]: unknown key(s) mask_ratio (known: ",
    ),
    ('strategy = "random"', 'label = "x"', "[masking.0] strategy: missing"),
    (
        'strategy = "random"',
        'strategy = "random"\nvocabs = ["bpe-256"]',
        "[masking.0] vocabs: bpe-256 not in [vocab] names",
    ),
    ('preset = "bert-tiny"', 'preset = "bert-huge"', "[model] preset: 'bert-huge' is neither"),
    ('config = "ds_configs/zero0.json"', 'config = "nope.json"', "[deepspeed] config:"),
    ("bases = 40960", "bases = 0", "[budget] bases 0: must be > 0"),
    (
        'config = "ds_configs/zero0.json"',
        'config = "ds_configs/zero0.json"\noverride = 3',
        "[deepspeed] override: must be a table",
    ),
    (
        "bases = 40960",
        "bases = 40960\n[train]\nseeds = [0, 0]",
        "[train] seeds: lists a seed twice",
    ),
    ("bases = 40960", 'bases = 40960\n[eval.run]\nprotocol = "zero-shot"', "[eval.run] protocol"),
    ("bases = 40960", "bases = 40960\n[eval.run]\nn_boot = 0", "[eval.run] n_boot 0: must be >= 1"),
    ("bases = 40960", 'bases = 40960\n[eval.run]\nout = "x"', "[eval.run] out: set by the testbed"),
    (
        "bases = 40960",
        "bases = 40960\n[eval.audit]\nnboot = 5",
        "[eval.audit]: unknown key(s) nboot",
    ),
    (
        "bases = 40960",
        "bases = 40960\n[eval.run.finetune]\nweight_decay = 0.1",
        "[eval.run.finetune] weight_decay: not an option",
    ),
    (
        "bases = 40960",
        'bases = 40960\n[eval]\nrun_args = ["--n-boot", "9"]',
        "unknown key(s) run_args",
    ),
    (
        "bases = 40960",
        "bases = 40960\n[vocab.report]\nrobust_windows = 0",
        "[vocab.report] robust_windows 0",
    ),
    ("bases = 40960", 'bases = 40960\n[eval]\ntasks = ["splice"]', "[eval] tasks"),
    ("bases = 40960", 'bases = 40960\n[eval]\nsuite = "nope"', "[eval] suite: 'nope'"),
    (
        "bases = 40960",
        'bases = 40960\n[eval]\nsuite = "core"\nbenchmark = "x"',
        "[eval] suite: a suite is its own benchmark",
    ),
    ("bases = 40960", 'bases = 40960\n[launcher]\nmode = "ssh"', "[launcher] mode"),
    ("bases = 40960", 'bases = 40960\n[launcher]\nbackend = "x"', "[launcher] backend 'x'"),
    ("bases = 40960", "bases = 40960\n[launcher]\ncpu_threads = 0", "[launcher] cpu_threads 0"),
    ("bases = 40960", "bases = 40960\n[train]\nseeds = []", "[train] seeds: list at least one"),
    ("bases = 40960", "bases = 40960\n[eval]\ntasks = 3", "[eval] tasks 3: must be a list"),
    ("bases = 40960", 'bases = 40960\n[launcher]\nmode = "hostfile"', "[launcher] hostfile"),
    ("bases = 40960", "bases = 40960\n[launcher]\nnnodes = 2", "[launcher] nnodes"),
    ("bases = 40960", "bases = 40960\n[cost]\nmfu = 2.0", "[cost] mfu"),
    ('name = "t"', 'name = "t"\nextra = 1', "top level: unknown key(s) extra (known: "),
    ('name = "t"', 'name = "a b"', "name: 'a b'"),
    ("[budget]\nbases = 40960", "", "budget: missing"),
]


@pytest.mark.parametrize(("old", "new", "fragment"), CASES)
def test_errors_are_one_line_and_name_the_field(
    tmp_path: Path, old: str, new: str, fragment: str
) -> None:
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")
    assert fragment in msg


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(write(tmp_path, "name = "))
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "absent.toml")


def test_paths_are_relative_to_the_repo_and_fasta_paths_absolute(tmp_path: Path) -> None:
    fasta = tmp_path / "g.fa"
    fasta.write_text(">r\nACGT\n")
    text = MINIMAL.replace('sources = ["ecoli_k12"]', f'sources = ["ecoli_k12", "{fasta}"]')
    r = load_recipe(write(tmp_path, text))
    assert r.corpus.sources == ("ecoli_k12", str(fasta.resolve()))


def test_node_rank_arguments() -> None:
    from testbed.cli import check_node_args

    paper = load_recipe(ROOT / "recipes" / "paper.toml")
    check_node_args(paper, None, None, dry_run=True)
    check_node_args(paper, 1, "10.0.0.1", dry_run=False)
    for rank in (None, 2):
        with pytest.raises(RecipeError, match="pass --node-rank R with R in"):
            check_node_args(paper, rank, "10.0.0.1", dry_run=False)
    with pytest.raises(RecipeError, match="pass --master-addr"):
        check_node_args(paper, 0, None, dry_run=False)
    smoke = load_recipe(ROOT / "recipes" / "smoke.toml")
    check_node_args(smoke, None, None, dry_run=False)
    with pytest.raises(RecipeError, match='need \\[launcher\\] mode = "node-rank"'):
        check_node_args(smoke, 0, None, dry_run=False)
