"""CLI flags generated from the dataclasses: the defaults, types and choices come from the dataclass and
the registries, so a changed default or a new registry entry reaches `--help` without a CLI edit."""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from analysis.options import POOLINGS, CollectOptions
from workbench.cli import build_parser
from workbench.cli.options import add_fields, from_args
from workbench.instruction_search.compare import CompareOptions
from workbench.instruction_search.loop import SearchConfig
from workbench.instruction_search.proposers import ProposerOptions


def _sub(*path):
    parser = build_parser()
    for name in path:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


def test_optimize_flags_build_the_dataclasses_with_their_defaults():
    args = _sub("instructions", "optimize").parse_args(["--task", "recent", "--editor", "ed"])
    config = from_args(SearchConfig, args, out_dir="o", proposer_options=from_args(ProposerOptions, args,
                                                                                   prefix="proposer_"))
    reference = SearchConfig(task="recent", editor="ed", out_dir="o")
    assert config == reference  # every flag's default is the dataclass default


def test_renamed_and_negated_flags_reach_their_fields():
    args = _sub("instructions", "optimize").parse_args(
        ["--task", "zsre", "--editor", "ed", "--candidates", "7", "--no-fallback", "--weights", "1,0,2",
         "--timeout", "3.5", "--proposer-model", "m"])
    config = from_args(SearchConfig, args, out_dir="o", proposer_options=from_args(ProposerOptions, args,
                                                                                   prefix="proposer_"))
    assert (config.candidates_per_round, config.fallback, config.weights) == (7, False, (1.0, 0.0, 2.0))
    assert (config.proposer_options.timeout_s, config.proposer_options.model) == (3.5, "m")


def test_analyze_and_compare_defaults_follow_their_dataclasses():
    args = _sub("analyze").parse_args(["--editors", "a", "--out", "o"])
    assert from_args(CollectOptions, args) == CollectOptions()
    assert from_args(CompareOptions, _sub("instructions", "compare").parse_args(["--out", "o"])) == CompareOptions()


def test_a_new_default_reaches_the_parser_without_a_cli_change():
    @dataclasses.dataclass
    class Options:
        rate: float = 0.25
        names: tuple[str, ...] = ("a", "b")
        flag: bool = True
        need: int | None = None

    parser = argparse.ArgumentParser()
    add_fields(parser, Options, helps={"rate": "r", "names": "n", "flag": "f", "need": "x"})
    assert from_args(Options, parser.parse_args([])) == Options()
    got = from_args(Options, parser.parse_args(["--rate", "2", "--names", "x,y", "--no-flag", "--need", "3"]))
    assert got == Options(2.0, ("x", "y"), False, 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--rate", "fast"])


def test_bad_values_are_refused_by_the_dataclass_with_the_field_name():
    args = _sub("analyze").parse_args(["--editors", "a", "--out", "o", "--pooling", "median"])
    with pytest.raises(ValueError, match="pooling must be one of " + ", ".join(POOLINGS)):
        from_args(CollectOptions, args)
