from __future__ import annotations

import gzip

import pytest

from eval.tasks.annotation import AnnotationError, read_annotation, read_bed, read_gff3

GFF = "##gff-version 3\nchr1\tsrc\tgene\t11\t20\t.\t-\t.\tID=g1;note=a%3Bb\n"


def test_gff3_plain_and_gzip_agree(tmp_path):
    plain = tmp_path / "a.gff3"
    plain.write_text(GFF + "##FASTA\n>chr1\nACGT\n")
    gz = tmp_path / "a.gff3.gz"
    gz.write_bytes(gzip.compress(GFF.encode()))
    (iv,) = read_gff3(plain)
    assert read_gff3(gz) == [iv]
    assert (iv.record, iv.start, iv.end, iv.strand, iv.type) == ("chr1", 10, 20, "-", "gene")
    assert iv.attrs == {"ID": "g1", "note": "a;b"}


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("chr1\tsrc\tgene\tten\t20\t.\t+\t.\tID=x", "field 4 (start)"),
        ("chr1\tsrc\tgene\t30\t20\t.\t+\t.\tID=x", "field 4/5 (start/end)"),
        ("chr1\tsrc\tgene\t1\t20\t.\t*\t.\tID=x", "field 7 (strand)"),
        ("chr1\tsrc\tgene\t1\t20\t.\t+\t.\tIDx", "field 9 (attributes)"),
        ("chr1\tsrc\tgene\t1\t20", "GFF3 needs 9"),
    ],
)
def test_gff3_bad_line_names_file_line_field(tmp_path, line, field):
    p = tmp_path / "bad.gff3"
    p.write_text(GFF + line + "\n")
    with pytest.raises(AnnotationError) as e:
        read_gff3(p)
    assert str(e.value).startswith(f"{p}:3: ") and field in str(e.value)


def test_bed_reads_and_rejects(tmp_path):
    p = tmp_path / "a.bed"
    p.write_text("track name=x\nchr1\t5\t9\tpeak\t0\t+\nchr1\t20\t30\n")
    ivs, fmt = read_annotation(p)
    assert fmt == "bed" and [(i.start, i.end, i.strand, i.type) for i in ivs] == [
        (5, 9, "+", "peak"),
        (20, 30, ".", "interval"),
    ]
    bad = tmp_path / "b.bed.gz"
    bad.write_bytes(gzip.compress(b"chr1\t5\t9\nchr1\t9\tx\n"))
    with pytest.raises(AnnotationError, match=r"b.bed.gz:2: field 3 \(chromEnd\) 'x'"):
        read_bed(bad)
