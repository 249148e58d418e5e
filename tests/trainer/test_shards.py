"""Opening a shard vocabulary: consistency checks with one-line reasons, local and remote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trainer.config import ConfigError
from trainer.shards import is_remote, open_shards


def test_opens_real_shards(small_shards: Path) -> None:
    s = open_shards(str(small_shards / "kmer6-overlap"))
    assert s.name == "kmer6-overlap" and s.vocab.size == 4101
    assert s.window == 128 and s.max_tokens == 123  # 128 - 6 + 1
    assert s.remote is None and s.split_paths("train") == (None, str(s.local / "train"))


def _copy(small_shards: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "shards"
    shutil.copytree(small_shards, dst)
    return dst


def test_shard_root_names_the_vocabularies(small_shards: Path) -> None:
    with pytest.raises(ConfigError, match="pick one vocabulary.*char"):
        open_shards(str(small_shards))


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        open_shards(str(tmp_path / "nope"))


def test_vocab_json_and_manifest_must_agree(small_shards: Path, tmp_path: Path) -> None:
    root = _copy(small_shards, tmp_path)
    spec_path = root / "char" / "vocab.json"
    spec = json.loads(spec_path.read_text())
    spec["max_tokens"] = 64
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match="disagree on max_tokens"):
        open_shards(str(root / "char"))


def test_replaced_tokenizer_is_detected(small_shards: Path, tmp_path: Path) -> None:
    root = _copy(small_shards, tmp_path)
    shutil.rmtree(root / "char" / "tokenizer")
    shutil.copytree(root / "kmer6-disjoint" / "tokenizer", root / "char" / "tokenizer")
    with pytest.raises(ConfigError, match="tokenizer in .* is 'kmer6-disjoint'"):
        open_shards(str(root / "char"))


def test_missing_split_is_detected(small_shards: Path, tmp_path: Path) -> None:
    root = _copy(small_shards, tmp_path)
    shutil.rmtree(root / "char" / "val")
    with pytest.raises(ConfigError, match="val/index.json is missing"):
        open_shards(str(root / "char"))


def test_remote_reads_go_through_the_cache(small_shards: Path, tmp_path: Path) -> None:
    """A --cache-dir makes --data a remote: metadata is fetched (and hash-checked) into it."""
    cache = tmp_path / "cache"
    s = open_shards(str(small_shards / "bpe-256"), cache_dir=cache)
    assert s.remote == str(small_shards / "bpe-256") and s.local == cache / "bpe-256"
    assert (cache / "manifest.json").is_file() and (cache / "bpe-256" / "vocab.json").is_file()
    assert (cache / "bpe-256" / "tokenizer" / "tokenizer.json").is_file()
    assert s.split_paths("val") == (f"{s.remote}/val", str(cache / "bpe-256" / "val"))
    assert (cache / "bpe-256" / "train" / "index.json").is_file()  # checked before streaming
    assert not list((cache / "bpe-256" / "train").glob("shard.*"))  # shards stream in on demand


def test_uri_detection() -> None:
    assert is_remote("s3://bucket/shards/char") and is_remote("gs://b/x")
    assert not is_remote("/data/shards/char") and not is_remote("C:/data/char")


def test_manifest_paths_cannot_escape_the_cache(small_shards: Path, tmp_path: Path) -> None:
    """Issue case: a crafted manifest key made the cache write (and delete) outside --cache-dir."""
    from data_prep.manifest import seal

    root = _copy(small_shards, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["vocabs"]["char"]["files"]["tokenizer/../../../victim.txt"] = "0" * 64
    (root / "manifest.json").write_text(json.dumps(seal(manifest)))  # re-sealed: a real attacker
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match="'tokenizer/../../../victim.txt' is not a plain"):
        open_shards(str(root / "char"), cache_dir=cache)
    assert victim.read_text() == "keep me"
    assert {p.name for p in tmp_path.iterdir()} == {"shards", "victim.txt", "cache"}


def test_pickle_column_in_a_split_index_is_refused(small_shards: Path, tmp_path: Path) -> None:
    root = _copy(small_shards, tmp_path)
    index_path = root / "char" / "train" / "index.json"
    index = json.loads(index_path.read_text())
    index["shards"][0]["column_encodings"][1] = "pkl"
    index_path.write_text(json.dumps(index))
    with pytest.raises(ConfigError, match="refusing to decode them"):
        open_shards(str(root / "char"))
