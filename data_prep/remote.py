"""Shard directories in object storage: upload a finished directory, fetch one back to verify.

The URI schemes are mosaicml-streaming's (``s3://``, ``gs://``, ``oci://``, ``azure://``,
``hf://``, ...: the ones the trainer's ``--data`` reads), moved with streaming's own uploader and
downloader classes. ``file:///abs/dir`` names a local directory as if it were a bucket: streaming
handles plain paths with the same code path, which is how the tests stand in for a bucket.

Upload order makes a remote dataset all-or-nothing for readers: every shard, index and tokenizer
file first, ``manifest.json`` last, so a remote directory with a manifest is complete. A fetch
trusts nothing it downloads: every path comes from the manifest and must stay inside the
destination, and every file must match the manifest's sha256.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
from pathlib import Path

from data_prep.manifest import Manifest, ManifestError
from data_prep.paths import UnsafePathError, contained, plain_name
from dnapt.hashing import sha256_file

MANIFEST = "manifest.json"


class RemoteError(RuntimeError):
    """Object storage could not be written or read; the message names the URI and the fix."""


def is_remote(out: str) -> bool:
    """True for URIs with a scheme (s3://, gs://, file://, ...); one letter is a Windows drive."""
    return len(urllib.parse.urlparse(str(out)).scheme) > 1


def _streaming_uri(uri: str) -> str:
    """What streaming's classes take: ``file://`` becomes the plain path they copy to/from."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise RemoteError(f"{uri}: file:// URIs must name a local path (file:///abs/dir)")
        return urllib.parse.unquote(parsed.path)
    return uri.rstrip("/")


def _join(uri: str, rel: str) -> str:
    return f"{uri.rstrip('/')}/{rel}"


def _download(uri: str, local: Path) -> None:
    from streaming.base.storage.download import CloudDownloader

    local.parent.mkdir(parents=True, exist_ok=True)
    CloudDownloader.direct_download(uri, str(local), timeout=120)


def remote_has_manifest(remote: str) -> bool:
    """Whether ``remote`` already holds a finished dataset (its manifest.json)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _download(_join(_streaming_uri(remote), MANIFEST), Path(tmp) / MANIFEST)
        except FileNotFoundError:
            return False
        except Exception as e:  # the storage clients raise many types; the message is what matters
            raise RemoteError(f"{remote}: cannot read ({type(e).__name__}: {e})") from None
    return True


def upload_dir(local: Path, remote: str) -> list[str]:
    """Copy every file under ``local`` to ``remote`` (manifest.json last); returns the names."""
    from streaming.base.storage.upload import CloudUploader, LocalUploader

    target = _streaming_uri(remote)
    names = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    names = [n for n in names if n != MANIFEST] + ([MANIFEST] if MANIFEST in names else [])
    try:
        up = CloudUploader.get((str(local), target), keep_local=True, exist_ok=True)
        for name in names:
            if isinstance(up, LocalUploader):  # a directory "bucket" needs its folders
                Path(target, name).parent.mkdir(parents=True, exist_ok=True)
            up.upload_file(name)
    except Exception as e:  # the storage clients raise many types; the message is what matters
        raise RemoteError(
            f"{remote}: upload failed ({type(e).__name__}: {e}); the local copy {local} is "
            "complete: fix access and re-run with --overwrite"
        ) from None
    return names


def fetch_dir(remote: str, local: Path) -> Path:
    """Download a remote shard directory into ``local``: the manifest, then each file it lists,
    each checked against its sha256. Returns ``local``."""
    src = _streaming_uri(remote)
    try:
        _download(_join(src, MANIFEST), local / MANIFEST)
        manifest = Manifest.from_json(json.loads((local / MANIFEST).read_text()), MANIFEST)
        for vocab, entry in manifest.vocabs.items():
            for rel, digest in entry.files.items():
                dest = _inside(local, vocab, rel)
                _download(_join(src, f"{vocab}/{rel}"), dest)
                if sha256_file(dest) != digest:
                    raise RemoteError(
                        f"{remote}: {vocab}/{rel} does not match its manifest sha256 (corrupt "
                        "upload): re-run data_prep/shard.py with --overwrite"
                    )
    except RemoteError:
        raise
    except FileNotFoundError as e:
        raise RemoteError(f"{remote}: missing {e.filename or e} (incomplete upload?)") from None
    except ManifestError as e:
        raise RemoteError(f"{remote}: {e}") from None
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError):
        raise RemoteError(f"{remote}: manifest.json is not a dnapt manifest") from None
    except Exception as e:  # the storage clients raise many types; the message is what matters
        raise RemoteError(f"{remote}: cannot download ({type(e).__name__}: {e})") from None
    return local


def _inside(local: Path, vocab: object, rel: object) -> Path:
    """``local/vocab/rel`` through the shared path checks (``data_prep.paths``): a crafted
    manifest must not make the download write outside ``local``."""
    where = f"manifest.json: vocabs.{vocab}.files"
    try:
        return contained(local, f"{plain_name(vocab, where)}/{rel}", where)
    except UnsafePathError as e:
        raise RemoteError(f"unsafe path, refusing to download it: {e}") from None


def default_local_dir(remote: str) -> Path:
    """Where a remote ``--out`` is staged without ``--local``: a fresh temporary directory."""
    return Path(tempfile.mkdtemp(prefix="dnapt-shards-")) / os.path.basename(
        remote.rstrip("/") or "shards"
    )
