"""`s4d bench` input checks (the figures themselves are benchmarks, not tests)."""
import sys

import pytest

from s4d import cli


def test_bench_refuses_an_unknown_size_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["s4d", "bench", "--size", "s4d-1m", "--json"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: unknown size s4d-1m; choose from ['s4d-265k', 's4d-67k']\n"
