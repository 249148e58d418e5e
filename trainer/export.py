"""Export a run's checkpoint as a plain Hugging Face model: ``RUN/hf`` (safetensors + tokenizer).

    python trainer/export.py RUN [--tag step_00000200] [--out DIR]

The result loads with ``AutoModelForMaskedLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``
and no dnapt or remote code. Weights are the fp32 masters, consolidated from ZeRO partitions with
DeepSpeed's ``get_fp32_state_dict_from_zero_checkpoint`` (``zero_to_fp32.py`` fails on tied
weights); a ZeRO-0 run's module weights are already whole.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForMaskedLM, PreTrainedModel

from data_prep.vocab import load_vocab
from dnapt.cli import command_parser, from_namespace, option
from dnapt.errors import print_error
from trainer.checkpoint import (
    TAG_RE,
    CheckpointError,
    latest_tag,
    restricted_loads,
)

MODEL_DIR = "model"  # RUN/model/config.json: the architecture, written at the start of a run
TOKENIZER_DIR = "tokenizer"  # RUN/tokenizer: the run's vocabulary, copied from the shards


class ExportError(RuntimeError):
    """A run directory that cannot be exported; the message says why."""


def consolidated_state_dict(ckpt_dir: Path, tag: str, zero_stage: int) -> dict[str, torch.Tensor]:
    """fp32 weights of checkpoint ``tag``, whole, on CPU.

    All reads are ``weights_only`` (``restricted_loads``): exporting a crafted run cannot run code.
    """
    with restricted_loads():
        if zero_stage == 0 and not list((ckpt_dir / tag).glob("*zero_pp_rank_*optim_states.pt")):
            path = ckpt_dir / tag / "mp_rank_00_model_states.pt"
            states = torch.load(path, map_location="cpu")
            return {k: v.float() for k, v in states["module"].items()}
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        return get_fp32_state_dict_from_zero_checkpoint(str(ckpt_dir), tag=tag)


def _load_weights(model: PreTrainedModel, state: dict[str, torch.Tensor]) -> None:
    """Load ``state``; the only keys it may lack are ones tied to a key it has."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise ExportError(f"checkpoint has weights the model lacks: {', '.join(unexpected[:5])}")
    params = model.state_dict()
    present = {params[k].data_ptr() for k in state if k in params}
    untied = [k for k in missing if params[k].data_ptr() not in present]
    if untied:
        raise ExportError(f"checkpoint lacks weights: {', '.join(untied[:5])}")


def model_card(name: str, family: str, k: int, tag: str) -> str:
    """``RUN/hf/README.md``: how to feed the tokenizer, which is where plain-transformers users
    go wrong with overlapping k-mers (a tokenizer file cannot split raw DNA into overlapping
    k-mers, and WordLevel maps an unknown word to one silent ``[UNK]``)."""
    lines = [
        f"# dnapt masked-LM ({name}, checkpoint {tag})",
        "",
        "Load with `AutoModelForMaskedLM.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)`.",
        "",
    ]
    if family == "kmer-overlap":
        lines += [
            f"**Input format: space-separated overlapping {k}-mers (DNABERT's convention), not raw DNA.**",
            "Given raw DNA the tokenizer returns a single `[UNK]` for the whole sequence. Convert first:",
            "",
            "```python",
            f"def kmers(seq: str, k: int = {k}) -> str:",
            '    return " ".join(seq[i : i + k] for i in range(len(seq) - k + 1))',
            "",
            'ids = tokenizer(kmers("ACGTACGTAC".upper()))["input_ids"]',
            "```",
            "",
            f"A {k}-mer containing N is `[UNK]`, as in DNABERT.",
        ]
    else:
        lines += ["Input format: the DNA sequence itself, upper-case `ACGTN`."]
    return "\n".join(lines) + "\n"


def export_run(run_dir: Path, tag: str | None = None, out: Path | None = None) -> Path:
    """Write checkpoint ``tag`` (default: the latest) of ``run_dir`` as a HF model; returns it."""
    from trainer.run_record import CONFIG_FILE, ResolvedRun, RunRecordError

    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ExportError(f"{run_dir}: no {CONFIG_FILE}, not a dnapt run directory")
    try:
        run_cfg = ResolvedRun.read(config_path)
    except RunRecordError as e:
        raise ExportError(str(e)) from None
    ckpt_dir = run_dir / "checkpoints"
    tag = tag or latest_tag(ckpt_dir)
    if tag is not None and not TAG_RE.match(tag):
        raise ExportError(f"--tag {tag}: not a checkpoint tag; use step_NNNNNNNN")
    if tag is None or not (ckpt_dir / tag).is_dir():
        raise ExportError(f"{run_dir}: no checkpoint {tag or '(none saved yet)'} to export")
    stage = run_cfg.zero_stage
    out = Path(out) if out is not None else run_dir / "hf"
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is an existing file, not a directory: choose another --out")

    model = AutoModelForMaskedLM.from_config(AutoConfig.from_pretrained(run_dir / MODEL_DIR))
    _load_weights(model, consolidated_state_dict(ckpt_dir, tag, stage))
    vocab = load_vocab(run_dir / TOKENIZER_DIR)

    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    vocab.tokenizer.save_pretrained(tmp)
    (tmp / "README.md").write_text(model_card(vocab.name, vocab.family, vocab.k, tag))
    (tmp / "dnapt_export.json").write_text(
        json.dumps({"checkpoint": tag, "run": str(run_dir.resolve())}, indent=2) + "\n"
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


@dataclass(frozen=True)
class ExportConfig:
    """What ``python trainer/export.py`` exports, and where."""

    run: Path = option(help="run directory (the trainer's --out)", flags=("run",))
    tag: str | None = option(None, help="checkpoint, e.g. step_00000200 (default: latest)")
    out: Path | None = option(None, help="output directory (default: RUN/hf)")


def main(argv: list[str] | None = None) -> int:
    p = command_parser(
        ExportConfig,
        prog="python trainer/export.py",
        description="Export a dnapt run's checkpoint as a Hugging Face model (safetensors + "
        "tokenizer), consolidating ZeRO partitions.",
    )
    cfg = from_namespace(ExportConfig, p.parse_args(argv))
    try:
        out = export_run(cfg.run, cfg.tag, cfg.out)
    except (ExportError, CheckpointError) as e:
        print_error("export", e)
        return 2
    print(f"exported {cfg.run} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
