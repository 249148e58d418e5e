"""End-to-end sharding on real genomes: verify, determinism, crash safety, formats, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_prep.shard import ShardConfig, ShardError, run_shard
from data_prep.verify import VerifyError, verify
from data_prep.windows import WindowConfig

ROOT = Path(__file__).resolve().parents[2]
SHARD = [sys.executable, str(ROOT / "data_prep" / "shard.py")]


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _manifest_sans_run(root: Path) -> dict:
    m = json.loads((root / "manifest.json").read_text())
    m.pop("run")
    return m


@pytest.mark.slow
def test_real_ecoli_all_families_and_verify(tmp_path: Path) -> None:
    """The whole E. coli genome in all four vocabulary families, then `verify` via the CLI."""
    out = tmp_path / "ecoli"
    r = subprocess.run(
        [
            *SHARD,
            "--fasta",
            "ecoli_k12",
            "--out",
            str(out),
            "--no-progress",
            "--vocab",
            "char,kmer6-overlap,kmer6-disjoint,bpe-4096",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["sources"][0]["bases"] == 4_641_652
    assert m["splits"]["train"]["windows"] == 4306 and m["splits"]["val"]["windows"] == 226
    assert m["vocabs"]["kmer6-overlap"]["max_tokens"] == 1019
    assert (
        5.5
        < m["splits"]["train"]["bases"] / m["vocabs"]["kmer6-disjoint"]["splits"]["train"]["tokens"]
        <= 6
    )
    v = subprocess.run([*SHARD, "verify", str(out)], capture_output=True, text=True)
    assert v.returncode == 0 and "verify: OK" in v.stdout, v.stderr
    # A plain StreamingDataset reads the shards with no dnapt code.
    code = (
        "from streaming import StreamingDataset;"
        f"ds=StreamingDataset(local={str(out / 'char' / 'train')!r}, batch_size=1);"
        "s=ds[0]; print(len(ds), s['input_ids'].dtype, len(s['input_ids']), s['record'])"
    )
    env = {k: val for k, val in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["4306", "uint16", "1024", "NC_000913.3"]


def test_verify_catches_a_flipped_byte(small_shards: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_shards, copy)
    assert verify(copy)["decoded_checks"] > 0
    shard = next((copy / "kmer6-overlap" / "train").glob("*.zstd"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(VerifyError, match="sha256 differs"):
        verify(copy)


def test_identical_for_any_worker_count(ecoli_slice: Path, tmp_path: Path) -> None:
    def run(workers: int) -> Path:
        out = tmp_path / f"w{workers}"
        run_shard(
            ShardConfig(
                out=out,
                inputs=[str(ecoli_slice)],
                vocabs=["kmer6-overlap", "bpe-256", "char"],  # pooled BPE between local ones
                windows=WindowConfig(window=256, stride=200, val_fraction=0.1),
                workers=workers,
                progress=False,
            )
        )
        return out

    a, b = run(1), run(2)
    assert _tree_bytes(a) == _tree_bytes(b)
    assert _manifest_sans_run(a) == _manifest_sans_run(b)


def test_sigkill_then_rerun_gives_identical_dataset(ecoli_slice: Path, tmp_path: Path) -> None:
    args = [
        "--fasta",
        str(ecoli_slice),
        "--vocab",
        "char,kmer6-disjoint",
        "--window",
        "128",
        "--no-progress",
    ]
    ref = tmp_path / "ref"
    subprocess.run([*SHARD, *args, "--out", str(ref)], check=True)
    out = tmp_path / "out"
    proc = subprocess.Popen([*SHARD, *args, "--out", str(out)])
    partial = tmp_path / ".out.partial"
    deadline = time.time() + 60
    while not partial.exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()  # never a half dataset under the real name
    subprocess.run([*SHARD, *args, "--out", str(out)], check=True)
    assert _tree_bytes(out) == _tree_bytes(ref)
    assert not partial.exists()


def test_format_flag_is_gone() -> None:
    """One shard format (MDS): the webdataset writer had no reader in the pipeline."""
    proc = subprocess.run([*SHARD, "--format", "webdataset", "--out", "x"], capture_output=True)
    assert proc.returncode == 2 and b"unrecognized arguments: --format" in proc.stderr


def test_existing_dir_needs_overwrite(small_shards: Path) -> None:
    with pytest.raises(ShardError, match="--overwrite"):
        run_shard(ShardConfig(out=small_shards, progress=False))


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--vocab", "kmer9-overlap"], "unknown vocabulary 'kmer9-overlap'"),
        (["--fasta", "/nonexistent.fa"], "neither an existing file nor a registry name"),
        (["--val-records", "chrZ"], "--val-records names records not in the inputs: chrZ"),
        (["--val-records", "x", "--val-fraction", "0.1"], "exclusive"),
        (["--window", "2"], "--window 2"),
    ],
)
def test_cli_errors_are_one_line(
    args: list[str], needle: str, ecoli_slice: Path, tmp_path: Path
) -> None:
    base = ["--fasta", str(ecoli_slice)] if "--fasta" not in args else []
    r = subprocess.run(
        [*SHARD, *base, *args, "--vocab", "char", "--out", str(tmp_path / "o"), "--no-progress"]
        if "--vocab" not in args
        else [*SHARD, *base, *args, "--out", str(tmp_path / "o"), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_fasta_through_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGTXACGT\n")
    r = subprocess.run(
        [*SHARD, "--fasta", str(bad), "--out", str(tmp_path / "o"), "--vocab", "char"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and f"{bad}:2: invalid character 'X' at column 5" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def _shard_cli(
    args: list[str], tmp_path: Path, out: Path | None = None
) -> subprocess.CompletedProcess:
    out = out if out is not None else tmp_path / "o"
    return subprocess.run(
        [*SHARD, *args, "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line_error(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("shard: error: ") and needle in line, line


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--vocab", ""], "--vocab is empty: name at least one vocabulary"),
        (["--vocab", "char", "--workers", "0"], "--workers 0: use 1 or more"),
        (["--vocab", "bpe-32", "--seed", "-1"], "--seed -1: use a non-negative integer"),
        (["--vocab", "bpe-70000"], "bpe-70000: the train sample supports only"),
    ],
)
def test_argument_errors_are_one_line(
    args: list[str], needle: str, ecoli_slice: Path, tmp_path: Path
) -> None:
    _one_line_error(_shard_cli(["--fasta", str(ecoli_slice), *args], tmp_path), needle)
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.*"))


def _fasta(tmp_path: Path, text: str, name: str = "g.fa") -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


@pytest.mark.parametrize(
    "text, extra, needle",
    [
        (
            ">a\n>b\n",
            [],
            "the inputs hold no sequence: every record is a header with no bases (a, b)",
        ),
        (">a\n" + "N" * 2000 + "\n", [], "windows were dropped for N (more than --max-n-frac 0.0"),
        (
            ">a\n" + "ACGT" * 500 + "\n>b\n" + "ACGT" * 500 + "\n",
            ["--val-records", "a,b"],
            "--val-records names every record, so none is left for training",
        ),
        (
            ">a\n" + "ACGT" * 500 + "\n",
            ["--val-fraction", "0"],
            "--val-fraction 0 leaves no validation split",
        ),
        (
            ">a\n" + "ACGT" * 100 + "\n",
            ["--window", "512"],
            "no train window: the longest train region is 380 bases, shorter than --window 512",
        ),
        (
            ">a\n" + "ACGT" * 500 + "\n",
            ["--window", "200"],
            "no val window: the longest val region is 100 bases, shorter than --window 200: lower --window or raise --val-fraction",
        ),
    ],
)
def test_empty_splits_say_what_is_empty(
    tmp_path: Path, text: str, extra: list[str], needle: str
) -> None:
    args = ["--fasta", _fasta(tmp_path, text), "--vocab", "char", "--window", "64", *extra]
    _one_line_error(_shard_cli(args, tmp_path), needle)


def test_cr_only_fasta_beside_a_good_one_keeps_its_bases(tmp_path: Path) -> None:
    """Issue case: the CR-only file's record was dropped and the run exited 0."""
    mac = tmp_path / "mac.fa"
    mac.write_bytes(b">mac\r" + b"ACGTTGCA\r" * 100)
    good = _fasta(tmp_path, ">good\n" + "GGCATTAC" * 100 + "\n", "good.fa")
    args = ["--fasta", str(mac), good, "--vocab", "char", "--window", "64", "--val-fraction", "0.1"]
    r = _shard_cli(args, tmp_path)
    assert r.returncode == 0, r.stderr
    src = {
        s["file"]: s for s in json.loads((tmp_path / "o" / "manifest.json").read_text())["sources"]
    }
    assert src["mac.fa"]["bases"] == 800 and src["mac.fa"]["cr_lines"] == 101
    assert src["mac.fa"]["empty_records"] == []


def test_overwrite_never_replaces_a_file_or_a_foreign_directory(
    ecoli_slice: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    r = _shard_cli(["--fasta", str(ecoli_slice), "--vocab", "char", "--overwrite"], tmp_path, mine)
    _one_line_error(r, "notes.txt is an existing file, not a shard directory")
    assert mine.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt"
    ]
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("x")
    r = _shard_cli(["--fasta", str(ecoli_slice), "--vocab", "char", "--overwrite"], tmp_path, home)
    _one_line_error(r, "non-empty directory without manifest.json, not a shard directory")
    assert (home / "thesis.tex").read_text() == "x"


def test_unwritable_out_is_one_line(ecoli_slice: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = _shard_cli(["--fasta", str(ecoli_slice), "--vocab", "char"], tmp_path, ro / "o")
    finally:
        ro.chmod(0o700)
    _one_line_error(r, "is not writable here; choose another --out")


def test_write_failures_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    """A full disk or read-only --out: one line naming the file, never a traceback."""
    import errno

    from data_prep import shard, shard_pipeline

    fasta = _fasta(tmp_path, ">a\n" + "ACGT" * 500 + "\n")
    for code, needle in ((errno.ENOSPC, "no space left on device"), (errno.EROFS, "not writable")):

        def fail(*a, _code=code, **k):
            raise OSError(_code, os.strerror(_code), str(tmp_path / ".o.partial" / "char"))

        monkeypatch.setattr(shard_pipeline, "_write", fail)
        argv = ["--fasta", fasta, "--vocab", "char", "--window", "64", "--out", str(tmp_path / "o")]
        assert shard.main([*argv, "--no-progress"]) == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert (
            line.startswith(f"shard: error: {tmp_path / '.o.partial' / 'char'}: ")
            and needle in line
        )


def test_a_second_sharder_on_the_same_out_fails_fast(ecoli_slice: Path, tmp_path: Path) -> None:
    """Issue case: two sharders on one --out destroyed each other's work."""
    out = tmp_path / "o"
    first = subprocess.Popen(
        [
            *SHARD,
            "--fasta",
            str(ecoli_slice),
            "--vocab",
            "char,bpe-256",
            "--window",
            "64",
            "--out",
            str(out),
            "--no-progress",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = tmp_path / ".o.lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first sharder ended before the second could start"
    r = _shard_cli(["--fasta", str(ecoli_slice), "--vocab", "char", "--overwrite"], tmp_path, out)
    _one_line_error(r, f"another sharder (pid {first.pid}) is writing it")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert verify(out)["decoded_checks"] > 0 and not lock.exists()


def test_config_is_the_cli(tmp_path: Path) -> None:
    """ShardConfig generates the flags: its defaults are the CLI's, and to_argv round-trips."""
    from data_prep.shard_config import DEFAULT_VOCABS, build_parser, config_from_args
    from data_prep.sources import DEMO_CORPUS
    from dnapt.cli import to_argv

    cfg = config_from_args(build_parser().parse_args(["--out", str(tmp_path / "o")]))
    assert cfg.inputs == DEMO_CORPUS and ",".join(cfg.vocabs) == DEFAULT_VOCABS
    assert (cfg.windows.window, cfg.windows.stride, cfg.windows.val_fraction) == (1024, 1024, 0.05)
    assert (cfg.workers, cfg.seed, cfg.bpe_train_bases, cfg.overwrite, cfg.progress) == (
        1, 0, 8_000_000, False, True
    )  # fmt: skip
    held_out = ShardConfig(
        out=tmp_path / "o",
        inputs=["ecoli_k12"],
        vocabs=["char,bpe-256"],
        windows=WindowConfig(window=64, val_records=("chrI,chrII",)),
        progress=False,
    )
    assert held_out.vocabs == ("char", "bpe-256") and held_out.windows.val_records == (
        "chrI",
        "chrII",
    )
    assert held_out.windows.stride == 64 and held_out.windows.val_fraction == 0.0
    assert config_from_args(build_parser().parse_args(to_argv(held_out))) == held_out
