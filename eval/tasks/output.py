"""Write a built task in the benchmark layout, byte-identically for the same inputs.

``{train,dev,test}.csv.gz`` (``sequence,label``, what every dnapt stage reads), ``.bed.gz`` (every
row's record, start, end, strand, label and how it was made; ``name`` is ``split:row``, the row's
0-based index in the CSV) and ``task.json``. gzip headers carry no file name and mtime 0, and
task.json has sorted keys and no timestamps or absolute paths, so a rebuild from the same spec and
seed gives the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

from eval.tasks.genome import to_text
from eval.tasks.negatives import Row

BED_HEADER = "#record\tstart\tend\tname\tscore\tstrand\tlabel\tmade_by\n"


def write_gzip(path: Path, text: str) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(text.encode("ascii"))
    path.write_bytes(buf.getvalue())


def write_split(folder: Path, split: str, rows: list[Row]) -> None:
    csv = ["sequence,label\n"]
    bed = [BED_HEADER]
    for i, r in enumerate(rows):
        w = r.window
        csv.append(f"{to_text(r.codes)},{r.label}\n")
        bed.append(
            f"{w.record}\t{w.start}\t{w.end}\t{split}:{i}\t0\t{w.strand}\t{r.label}\t{r.how}\n"
        )
    write_gzip(folder / f"{split}.csv.gz", "".join(csv))
    write_gzip(folder / f"{split}.bed.gz", "".join(bed))


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
