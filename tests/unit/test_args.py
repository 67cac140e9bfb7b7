"""Numbers on command lines are bounded: one clear line, never an OverflowError."""

import argparse

import pytest

from cluster.cli.args import CmArgumentParser, bounded_float, bounded_int
from cluster.errors import UsageError


def parser() -> CmArgumentParser:
    parser = CmArgumentParser(prog="cmtest")
    parser.add_argument("--days", type=bounded_int(1, 36500))
    parser.add_argument("--wait", type=bounded_float(0.01, 60))
    return parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--days", "99999999"], "argument --days: 99999999 is out of range 1..36500"),
        (["--days", "0"], "argument --days: 0 is out of range 1..36500"),
        (["--days", "1_000"], "argument --days: 1_000 is not a whole number"),
        (["--days", "1.5"], "argument --days: 1.5 is not a whole number"),
        (["--days", "\u0663"], "argument --days: \u0663 is not a whole number"),
        (["--days", "1\n2"], "argument --days: '1\\n2' is not a whole number"),
        (["--days", "9" * 5000], "argument --days: 999999999999999999999999... is out"),
        (["--wait", "inf"], "argument --wait: inf is not a number"),
        (["--wait", "nan"], "argument --wait: nan is not a number"),
        (["--wait", "1e999"], "argument --wait: 1e999 is out of range 0.01..60"),
        (["--wait", "61"], "argument --wait: 61 is out of range 0.01..60"),
    ],
)
def test_out_of_range_or_not_a_number(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parser().parse_args(argv)
    text = str(caught.value)
    assert text.startswith(message), text
    assert text.endswith("(see cmtest --help)") and "\n" not in text and len(text) < 120


def test_bounds_are_inclusive_and_values_typed() -> None:
    args = parser().parse_args(["--days", "36500", "--wait", "2e-2"])
    assert args.days == 36500 and isinstance(args.days, int)
    assert args.wait == 0.02
    assert parser().parse_args(["--days", " +0001 "]).days == 1
    assert bounded_int(-5, 5)("-5") == -5
    with pytest.raises(argparse.ArgumentTypeError):
        bounded_int(-5, 5)("-6")
