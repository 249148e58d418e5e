"""The trainer CLI: every flag documented, ranges checked, masking parameters wired through."""

from __future__ import annotations

import re

import pytest

from trainer.config import ConfigError, build_parser, parse_args

REQUIRED = ["--ds_config", "c.json", "--data", "d", "--out", "o"]


def test_help_documents_every_flag() -> None:
    parser = build_parser()
    text = parser.format_help()
    for action in parser._actions:
        if action.help == "==SUPPRESS==" or not action.option_strings:
            continue
        assert action.help, f"{action.option_strings} has no help text"
        assert action.option_strings[0] in text


def test_defaults_and_masking_parameters() -> None:
    cfg = parse_args([*REQUIRED, "--masking", "span", "--mask-ratio", "0.2", "--mean-span", "4"])
    assert cfg.model == "bert-tiny" and cfg.resume == "never" and cfg.max_len is None
    assert cfg.masking.strategy == "span" and cfg.masking.ratio == 0.2
    assert cfg.masking.mean_span == 4 and cfg.masking.mask_prob == 0.8  # resolved 80/10/10
    d = cfg.to_dict()
    assert d["out"] == "o" and d["masking"]["random_prob"] == 0.1


def test_deepspeed_launcher_local_rank_is_accepted() -> None:
    assert parse_args([*REQUIRED, "--local_rank=1"]).data == "d"


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--max-steps", "0"),
        ("--save-every", "-1"),
        ("--eval-samples", "0"),
        ("--max-len", "0"),
        ("--dist-timeout", "0"),
        ("--num-workers", "-1"),
    ],
)
def test_out_of_range_values_name_the_flag(flag: str, value: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(flag)):
        parse_args([*REQUIRED, flag, value])


def test_bad_masking_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="masking"):
        parse_args([*REQUIRED, "--mask-ratio", "1.5"])
