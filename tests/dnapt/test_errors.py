"""print_error: one unwrapped line on stderr, whatever the message holds."""

from __future__ import annotations

from dnapt.errors import one_line, print_error


def test_long_message_stays_on_one_line(capsys) -> None:
    path = "/very/long/" + "d" * 300 + "/file.fa"
    print_error("shard", f"{path}:3: bad [UNK] thing\nsecond line")
    err = capsys.readouterr().err
    assert err == f"shard: error: {path}:3: bad [UNK] thing second line\n"


def test_one_line_replaces_carriage_returns() -> None:
    assert one_line("a\r\nb\rc") == "a  b c"
