"""The ``python -m train`` command line: every verb's help, FitConfig's generated flags, errors and the Ctrl-C hint."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from ettin.cli import dataclass_from_args
from train.__main__ import VERB_MODULES, main
from train.fit_config import FitConfig, add_fit_arguments
from train.selection import draw_holdout

VERBS = (["data", "candidates"], ["data", "select"], ["data", "mix"], ["score"], ["fit"], ["scifact"])


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*verb, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: python -m train {' '.join(verb)}" in capsys.readouterr().out


def test_verb_modules_are_the_owners():
    from ettin.cli import verbs_of

    assert VERB_MODULES[:7] == (
        "train.data.candidates", "train.data.select", "train.data.mix", "train.data.load_benchmark", "train.score",
        "train.fit", "train.scifact",
    )  # fmt: skip
    assert {v.run.__module__ for v in verbs_of(VERB_MODULES)} == set(VERB_MODULES), "each owner registers its own verbs"


def _fit_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_fit_arguments(parser)
    return parser.parse_args(argv)


def test_fit_flags_are_generated_from_fitconfig():
    args = _fit_args(["--train", "t.parquet", "--out", "o"])
    assert dataclass_from_args(FitConfig, args) == FitConfig(train="t.parquet", out="o"), "omitted flags keep the defaults"
    assert args.quiet is False
    args = _fit_args(["--train", "t", "--out", "o", "--lr", "2e-3", "--eval-steps", "0.5", "--bf16", "off", "--resume",
                      "--max-steps", "12", "--dataloader-workers", "0", "--quiet"])
    cfg = dataclass_from_args(FitConfig, args)
    assert (cfg.learning_rate, cfg.eval_steps, cfg.bf16, cfg.resume, cfg.max_steps, cfg.dataloader_workers) == (
        2e-3, 0.5, "off", True, 12, 0)
    assert args.quiet is True
    flags = {f.name for f in dataclasses.fields(FitConfig)}
    assert flags <= set(vars(args)), "every FitConfig field has a flag"


@pytest.mark.parametrize(
    "argv", [["--out", "o"], ["--train", "t"], ["--train", "t", "--out", "o", "--save-steps", "0"],
             ["--train", "t", "--out", "o", "--bf16", "maybe"]],
)
def test_fit_flags_refuse_missing_or_bad_values(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _fit_args(argv)
    assert exit_info.value.code == 2


def test_candidates_holdout_uses_the_shared_draw(tmp_path, capsys):
    out = tmp_path / "cands.parquet"
    assert main(["data", "candidates", "--beir", "scifact", "--split", "test", "--first-stage", "bm25", "--depth", "3",
                 "--holdout", "5", "--seed", "7", "--out", str(out), "--quiet"]) == 0
    held = json.loads((tmp_path / "cands.holdout.json").read_text())
    from ettin.corpus import scifact

    queries = scifact("test").queries
    assert held == draw_holdout(queries, 5, seed=7)
    manifest = json.loads((tmp_path / "cands.parquet.json").read_text())
    assert manifest["queries"] == len(queries) - 5 and manifest["holdout"] == 5
    assert main(["data", "candidates", "--beir", "scifact", "--split", "test", "--first-stage", "bm25",
                 "--holdout", str(len(queries)), "--out", str(out)]) == 2
    assert "leaves no training queries" in capsys.readouterr().err


def test_interrupt_says_how_to_continue(monkeypatch, tmp_path, capsys):
    import train.data.mix

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train.data.mix, "mix_sources", interrupted)
    assert main(["data", "mix", "--source", f"x={tmp_path}", "--out", str(tmp_path / "o.parquet")]) == 130
    assert "rerun the same command (with --resume for fit)" in capsys.readouterr().err


def test_user_errors_are_usererrors():
    from ettin.errors import UserError
    from train.tables import TrainDataError

    assert issubclass(TrainDataError, UserError) and issubclass(TrainDataError, ValueError)
