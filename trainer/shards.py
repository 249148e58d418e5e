"""Open one vocabulary of a dnapt shard directory and check it is self-consistent.

Everything the model depends on (vocabulary size, longest window in tokens, the tokenizer) is
read from here, never typed on the command line, so two runs over the same windows with two
vocabularies differ only in their vocabulary. Remote data (any URI scheme mosaicml-streaming can
download) is handled by fetching the small metadata files into a local cache; the MDS shards then
stream through ``StreamingDataset`` with that cache as its ``local``.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.manifest import Manifest, ManifestError, VocabEntry
from data_prep.paths import UnsafePathError, contained
from data_prep.vocab import Vocab, VocabError, load_vocab
from data_prep.writers import ShardFormatError, load_mds_index
from dnapt.hashing import sha256_file
from trainer.config import ConfigError

SPLITS = ("train", "val")


@dataclass(frozen=True)
class Shards:
    """A checked shard vocabulary: where its splits are and what its windows look like."""

    name: str
    vocab: Vocab
    vocab_dir: Path  # local directory holding vocab.json and tokenizer/
    window: int  # bases per window
    max_tokens: int  # longest window in content tokens (no [CLS]/[SEP])
    remote: str | None  # remote root of this vocabulary, None for local data
    local: Path  # local root: the data itself, or the cache of a remote
    manifest_sha256: str
    windows: dict[str, int]  # windows per split, from the manifest

    def split_paths(self, split: str) -> tuple[str | None, str]:
        """(remote, local) arguments for ``StreamingDataset`` for one split."""
        remote = None if self.remote is None else f"{self.remote.rstrip('/')}/{split}"
        return remote, str(self.local / split)


def is_remote(data: str) -> bool:
    """True for URIs with a scheme (s3://, gs://, ...); a one-letter scheme is a Windows drive."""
    return len(urllib.parse.urlparse(data).scheme) > 1


def default_cache_dir(data: str) -> Path:
    """A per-URI cache directory, so two runs of the same remote data share their download."""
    digest = hashlib.sha256(data.rstrip("/").encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "dnapt" / "streaming" / digest


def _fetch(remote: str, local: Path) -> None:
    from streaming.base.storage.download import CloudDownloader

    try:
        CloudDownloader.direct_download(remote, str(local), timeout=120)
    except Exception as e:  # the storage clients raise many types; the message is what matters
        raise ConfigError(f"--data: cannot download {remote}: {e}") from None


def _parent(remote: str) -> str:
    return remote.rstrip("/").rsplit("/", 1)[0]


def _fetch_metadata(remote: str, cache: Path) -> None:
    """Copy manifest.json, vocab.json, tokenizer/ and the split indexes of a remote vocabulary
    into ``cache``, each checked against the manifest's sha256.

    Every path comes from the (untrusted) manifest, so each must stay inside ``cache`` before
    anything is written or removed there. The split indexes are fetched here, not by streaming,
    so their columns and shard names are checked before streaming reads them.
    """
    _fetch(f"{_parent(remote)}/manifest.json", cache.parent / "manifest.json")
    manifest = _read_manifest(cache.parent / "manifest.json")
    name = remote.rstrip("/").rsplit("/", 1)[1]
    entry = manifest.vocabs.get(name)
    files = entry.files if entry is not None else None
    if not files or not isinstance(files, dict):
        raise ConfigError(f"--data {remote}: the manifest lists no vocabulary '{name}'")
    indexes = [f"{split}/index.json" for split in SPLITS]
    wanted = ["vocab.json", *indexes] + [f for f in files if f.startswith("tokenizer/")]
    for rel in wanted:
        try:
            dest = contained(cache, rel, f"{cache.parent / 'manifest.json'}: vocabs.{name}.files")
        except UnsafePathError as e:
            raise ConfigError(f"--data {remote}: {e}") from None
        if rel not in files:
            raise ConfigError(f"--data {remote}: the manifest has no sha256 for {rel}; re-shard")
        _fetch(f"{remote.rstrip('/')}/{rel}", dest)
        if sha256_file(dest) != files[rel]:
            dest.unlink()
            raise ConfigError(f"--data {remote}: {rel} does not match its manifest sha256")


def _read_manifest(path: Path) -> Manifest:
    """The manifest, digest-checked (one written before digests existed is accepted)."""
    try:
        return Manifest.read(path, require_digest=False)
    except ManifestError as e:
        raise ConfigError(f"--data: {e}") from None


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"--data: {path} is missing: point --data at DIR/<vocab> written by data_prep/shard.py"
        ) from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--data: {what} at {path} is not valid JSON ({e})") from None


def _check_local_layout(root: Path, data: str) -> None:
    if not root.is_dir():
        raise ConfigError(f"--data {data}: no such directory (shard it with data_prep/shard.py)")
    if not (root / "vocab.json").is_file() and (root / "manifest.json").is_file():
        names = sorted(p.name for p in root.iterdir() if (p / "vocab.json").is_file())
        raise ConfigError(
            f"--data {data} is a shard directory: pick one vocabulary, e.g. "
            + ", ".join(str(root / n) for n in names)
        )


def _check_consistency(name: str, spec: dict, entry: VocabEntry, vocab: Vocab, where: Path) -> None:
    """vocab.json, the manifest and the tokenizer must describe the same vocabulary."""
    for key in ("size", "max_tokens", "tokenizer_sha256"):
        if spec.get(key) != getattr(entry, key):
            raise ConfigError(
                f"--data: {where}/vocab.json and manifest.json disagree on {key} "
                f"({spec.get(key)} vs {getattr(entry, key)}): re-shard, the directory was edited"
            )
    if vocab.name != name or vocab.size != spec["size"]:
        raise ConfigError(
            f"--data: tokenizer in {where} is '{vocab.name}' with {vocab.size} tokens but "
            f"vocab.json says '{name}' with {spec['size']}: re-shard, the directory was edited"
        )
    if vocab.sha256() != spec["tokenizer_sha256"]:
        raise ConfigError(
            f"--data: tokenizer in {where} does not match vocab.json's tokenizer_sha256: "
            "re-shard, the tokenizer was replaced"
        )


def open_shards(data: str, cache_dir: Path | None = None) -> Shards:
    """Resolve ``--data`` (local, remote, or local through ``--cache-dir``) and check it.

    A local ``data`` with a ``cache_dir`` is read like a remote one (copied shard by shard into
    the cache): useful for data on a slow network filesystem, and how tests cover remote reads.
    """
    remote: str | None = None
    if is_remote(data) or cache_dir is not None:
        if not is_remote(data):
            _check_local_layout(Path(data), data)
        remote = data.rstrip("/")
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(data)
        local = cache / remote.rsplit("/", 1)[1]
        _fetch_metadata(remote, local)
    else:
        local = Path(data)
        _check_local_layout(local, data)
    spec = _read_json(local / "vocab.json", "vocab.json")
    manifest_path = local.parent / "manifest.json"
    manifest = _read_manifest(manifest_path)
    name = spec.get("name", "")
    entry = manifest.vocabs.get(name)
    if entry is None:
        raise ConfigError(f"--data: manifest.json at {manifest_path} lists no vocabulary '{name}'")
    try:
        vocab = load_vocab(local)
    except VocabError as e:
        raise ConfigError(f"--data: {e}") from None
    _check_consistency(name, spec, entry, vocab, local)
    for split in SPLITS:
        if not (local / split / "index.json").is_file():
            raise ConfigError(
                f"--data: {local / split}/index.json is missing: the shard directory is "
                "incomplete, re-shard it"
            )
        try:
            load_mds_index(local / split / "index.json")
        except ShardFormatError as e:
            raise ConfigError(f"--data: {e}") from None
    return Shards(
        name=name,
        vocab=vocab,
        vocab_dir=local,
        window=manifest.params.window,
        max_tokens=int(spec["max_tokens"]),
        remote=remote,
        local=local,
        manifest_sha256=sha256_file(manifest_path),
        windows={split: _split_windows(manifest, split, manifest_path) for split in SPLITS},
    )


def _split_windows(manifest: Manifest, split: str, path: Path) -> int:
    if split not in manifest.splits:
        raise ConfigError(f"--data: {path} has no window count for split '{split}'")
    return manifest.split_windows(split)
