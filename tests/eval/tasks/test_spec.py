from __future__ import annotations

import pytest

from eval.tasks.spec import SpecError, load_spec, parse_spec
from tests.eval.tasks.conftest import toy_spec


def test_defaults_written_out(toy):
    spec = parse_spec(toy_spec(toy), "t.toml")
    d = spec.to_dict()
    assert d["negatives"]["gc_bin"] == 0.01 and d["max_n_frac"] == 0.01
    assert spec.split.test == ("chrE",)


@pytest.mark.parametrize(
    ("over", "key"),
    [
        ({"lenght": 100}, "'lenght': unknown key"),
        ({"negatives": {"method": "gc-matched", "ration": 2}}, "'negatives.ration': unknown key"),
        ({"negatives": {"method": "random"}}, "'negatives.method'"),
        ({"positives": {"type": "site", "anchor": "middle"}}, "'positives.anchor'"),
        ({"length": "100"}, "'length': expected int"),
        ({"name": "../escape"}, "'name'"),
        ({"name": "flat"}, "'name'"),
        ({"split": {"dev": ["chrD"], "test": ["chrD"]}}, "'split.test'"),
        ({"split": {"blocks": [0.5, 0.5]}}, "'split.blocks'"),
        ({"negatives": {"method": "dinuc-shuffle", "ratio": 2.0}}, "'negatives.ratio'"),
        ({"negatives": {"method": "dinuc-shuffle", "margin": 5}}, "'negatives.margin'"),
    ],
)
def test_bad_keys_name_the_key(toy, over, key):
    with pytest.raises(SpecError) as e:
        parse_spec(toy_spec(toy, **over), "t.toml")
    msg = str(e.value)
    assert msg.startswith("t.toml: key ") and key in msg and "\n" not in msg


def test_toml_syntax_error_is_one_line(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "a/b"\nlength = \n')
    with pytest.raises(SpecError, match=r"bad.toml: not valid TOML"):
        load_spec(p)
