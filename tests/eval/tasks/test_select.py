from __future__ import annotations

from collections import Counter

import numpy as np

from eval.tasks.annotation import Interval
from eval.tasks.genome import Genome
from eval.tasks.select import anchor_window, introns, positive_windows
from eval.tasks.spec import parse_spec


def test_anchor_is_at_the_window_centre_on_both_strands():
    plus = anchor_window(Interval("r", 100, 130, "+", "g"), "start", 10)
    minus = anchor_window(Interval("r", 100, 130, "-", "g"), "start", 10)
    assert (plus.start, plus.end) == (95, 105)  # base 100 at index 5
    assert (minus.start, minus.end) == (125, 135)  # base 129 at index 5 of the reverse complement
    genome = Genome({"r": np.arange(200, dtype=np.uint8) % 4})
    rc = genome.codes(minus)
    assert rc[5] == 3 - genome.records["r"][129]


def test_drops_are_counted(tmp_path):
    genome = Genome({"r": np.zeros(1000, np.uint8)})
    genome.records["r"][500:560] = 4  # an N block
    ivs = [
        Interval("r", 2, 10, "+", "g"),  # runs off the record
        Interval("r", 200, 210, "+", "g"),
        Interval("r", 220, 230, "+", "g"),  # overlaps the previous window
        Interval("r", 520, 530, "+", "g"),  # N-heavy
        Interval("other", 5, 9, "+", "g"),  # record not in the genome
    ]
    raw = {
        "name": "a/b",
        "genome": "g.fa",
        "annotation": "a.gff3",
        "length": 50,
        "positives": {"type": "g", "anchor": "start"},
        "split": {"dev": ["x"], "test": ["y"]},
    }
    stats = Counter()
    kept, _ = positive_windows(parse_spec(raw), genome, ivs, stats)
    assert [(w.start, w.end) for w in kept] == [(175, 225)]
    assert stats == {
        "off_record": 1,
        "overlapping_positives": 1,
        "n_heavy": 1,
        "unknown_record": 1,
        "identical_windows": 0,
    }


def test_introns_between_exon_parts_of_a_parent():
    ivs = [
        Interval("r", 0, 50, "mRNA", "mRNA", {"ID": "m1"}),
        Interval("r", 0, 10, "-", "exon", {"Parent": "m1"}),
        Interval("r", 30, 50, "-", "exon", {"Parent": "m1"}),
        Interval("r", 60, 70, "+", "exon", {"Parent": "t1"}),
        Interval("r", 80, 90, "+", "exon", {"Parent": "t1"}),
    ]
    parts = [iv for iv in ivs if iv.type == "exon"]
    assert [(i.start, i.end, i.strand) for i in introns(parts, ivs, "mRNA")] == [(10, 30, "-")]
    assert len(introns(parts, ivs, None)) == 2
