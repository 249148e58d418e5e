"""Audit thresholds and the keep / flag / drop verdict.

The thresholds are the audit's policy, so they are data: a frozen dataclass whose field help is
also the CLI help and is written into ``curated.json``. The justification of every default is in
docs/evaluation.md ("Verdict thresholds").
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from dnapt.cli import help_of, option

SEVERITY = {"info": 0, "flag": 1, "drop": 2}
VERDICT = {0: "keep", 1: "flag", 2: "drop"}
# Flags that only say a score is imprecise (wide CI, rare class); a task flagged for nothing else
# stays in the default curated list. Any other flag (GC shortcut, leak, near-duplicates, label
# conflicts, repeated training rows, protocol) means the score may not measure what it claims:
# such tasks are scored only when named explicitly.
PRECISION_CHECKS = frozenset({"ci_width", "class_balance"})


def in_default_list(verdict: str, reasons: list[dict[str, str]]) -> bool:
    """Whether a task is scored by default (``curated.json["tasks"]``)."""
    if verdict == "keep":
        return True
    flags = {r["check"] for r in reasons if r["severity"] == "flag"}
    return verdict == "flag" and flags <= PRECISION_CHECKS


@dataclass(frozen=True)
class AuditThresholds:
    """When a task is flagged or dropped. Fractions are of the test split unless stated."""

    saturation_mcc: float = option(0.9, help="drop when the k-mer baseline's test MCC reaches this")
    min_test_size: int = option(100, help="drop when test has fewer rows")
    ci_width_flag: float = option(0.15, help="flag when the 95% bootstrap CI of test MCC is wider")
    ci_width_drop: float = option(0.30, help="drop when the 95% bootstrap CI of test MCC is wider")
    leak_flag: float = option(
        0.0, help="flag when more than this share of test rows is in train (RC incl.)"
    )
    leak_drop: float = option(
        0.05, help="drop when more than this share of test rows is in train (RC incl.)"
    )
    near_dup_flag: float = option(
        0.05, help="flag when more than this share of test rows near-duplicates train"
    )
    conflict_flag: float = option(
        0.01, help="flag when more than this share of all rows carry conflicting labels"
    )
    gc_shortcut_mcc: float = option(
        0.25, help="GC+length baseline MCC from which the shortcut check applies"
    )
    gc_shortcut_share: float = option(
        0.75, help="flag when GC+length reaches this share of the k-mer baseline's MCC"
    )
    minority_flag: float = option(0.1, help="flag when the rarest test class is below this share")
    train_dup_flag: float = option(
        0.05, help="flag when more than this share of training rows are repeats (RC incl.)"
    )

    @classmethod
    def help(cls) -> dict[str, str]:
        """Each threshold's help as people read it (audit.md)."""
        return {f.name: help_of(f) for f in fields(cls)}


def _reason(check: str, severity: str, message: str) -> dict[str, str]:
    return {"check": check, "severity": severity, "message": message}


def judge(record: dict, th: AuditThresholds) -> tuple[str, list[dict[str, str]]]:
    """Verdict and reasons for one task's audit record (as written to audit.json).

    Every failed check adds a reason; the verdict is the most severe one. Informational reasons
    (a repaired leak) are kept so the report says what was changed.
    """
    reasons = []
    n_test = record["test_size"]
    kmer = record["baselines"]["kmer_lr"]
    gc = record["baselines"]["gc_length_lr"]
    if kmer["mcc"] >= th.saturation_mcc:
        reasons.append(
            _reason(
                "saturation",
                "drop",
                f"k-mer LR MCC {kmer['mcc']:.3f} >= {th.saturation_mcc}: saturated, cannot separate models",
            )
        )
    if n_test < th.min_test_size:
        reasons.append(_reason("test_size", "drop", f"test has {n_test} rows < {th.min_test_size}"))
    width = record["mcc_ci95_width"]
    if width > th.ci_width_drop:
        reasons.append(
            _reason(
                "ci_width", "drop", f"95% CI of test MCC is {width:.2f} wide > {th.ci_width_drop}"
            )
        )
    elif width > th.ci_width_flag:
        reasons.append(
            _reason(
                "ci_width", "flag", f"95% CI of test MCC is {width:.2f} wide > {th.ci_width_flag}"
            )
        )
    leak = record["leak"]
    if record["repair"]["applied"]:
        reasons.append(
            _reason(
                "leak",
                "info",
                f"repaired: removed {record['repair']['removed_test_rows']} test rows found in {record['train_split']} (RC incl.)",
            )
        )
    elif leak["frac"] > th.leak_drop:
        reasons.append(
            _reason(
                "leak",
                "drop",
                f"{leak['test_rows']} test rows ({leak['frac']:.1%}) are in {record['train_split']} (RC incl.); --dedup repairs",
            )
        )
    elif leak["frac"] > th.leak_flag:
        reasons.append(
            _reason(
                "leak",
                "flag",
                f"{leak['test_rows']} test rows ({leak['frac']:.1%}) are in {record['train_split']} (RC incl.); --dedup repairs",
            )
        )
    near = record["near_duplicates"]
    if near["test_frac"] > th.near_dup_flag:
        reasons.append(
            _reason(
                "near_duplicates",
                "flag",
                f"{near['test_rows']} test rows ({near['test_frac']:.1%}) near-duplicate {record['train_split']}",
            )
        )
    conflicts = record["label_conflicts"]
    conflict_frac = conflicts["rows"] / max(record["total_rows"], 1)
    if conflict_frac > th.conflict_flag:
        reasons.append(
            _reason(
                "label_conflicts",
                "flag",
                f"{conflicts['rows']} rows ({conflict_frac:.1%}) carry conflicting labels",
            )
        )
    if gc["mcc"] >= th.gc_shortcut_mcc and gc["mcc"] >= th.gc_shortcut_share * kmer["mcc"]:
        reasons.append(
            _reason(
                "gc_shortcut",
                "flag",
                f"GC+length LR MCC {gc['mcc']:.3f} is >= {th.gc_shortcut_share:.0%} of the k-mer "
                f"LR's {kmer['mcc']:.3f}: the signal is mostly composition",
            )
        )
    minority = record["class_balance"]["test_minority_frac"]
    if minority < th.minority_flag:
        reasons.append(
            _reason(
                "class_balance",
                "flag",
                f"rarest test class is {minority:.1%} < {th.minority_flag:.0%}",
            )
        )
    train_dups = record["duplicates"]["within"][record["train_split"]]["with_rc"]
    train_dup_frac = train_dups / max(record["splits"][record["train_split"]]["n"], 1)
    if train_dup_frac > th.train_dup_flag:
        reasons.append(
            _reason(
                "train_duplicates",
                "flag",
                f"{train_dups} {record['train_split']} rows ({train_dup_frac:.1%}) repeat earlier rows (RC incl.)",
            )
        )
    if record["protocol_note"]:
        reasons.append(_reason("protocol", "flag", record["protocol_note"]))
    level = max((SEVERITY[r["severity"]] for r in reasons), default=0)
    return VERDICT[level], reasons
