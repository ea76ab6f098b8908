"""Every package speaks the same CLI: each verb's ``--help`` works, and one real offline command per package runs.

The verbs are discovered from each package's ``VERB_MODULES`` (the verbs register themselves), so a verb added later is
covered without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ettin.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ettin", "eval", "train", "demo")


def _verb_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _verb_paths(sub, (*prefix, name))
                paths.extend(nested or [(*prefix, name)])
    return paths


def _all_verbs() -> list[tuple[str, tuple[str, ...]]]:
    found = []
    for package in PACKAGES:
        modules = importlib.import_module(f"{package}.__main__").VERB_MODULES
        found.extend((package, path) for path in _verb_paths(build_parser(package, "", modules)))
    return found


def _run(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )


def test_every_package_registers_its_verbs():
    verbs = {(package, " ".join(path)) for package, path in _all_verbs()}
    expected = {
        ("ettin", "replica"), ("ettin", "registry"), ("ettin", "search"), ("ettin", "latency"),
        ("eval", "retrieval"), ("eval", "mteb"), ("eval", "nanobeir"), ("eval", "speed"), ("eval", "leaderboard"), ("eval", "scale"),
        ("train", "data candidates"), ("train", "data select"), ("train", "data mix"), ("train", "score"),
        ("train", "fit"), ("train", "scifact"),
        ("demo", "load"), ("demo", "screenshots"),
    }  # fmt: skip
    assert expected <= verbs


@pytest.mark.parametrize("package, path", _all_verbs(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_verb_help(package, path, capsys):
    main = importlib.import_module(f"{package}.__main__").main
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and out.startswith(f"usage: python -m {package} {' '.join(path)}")


@pytest.mark.parametrize("package", PACKAGES)
def test_python_dash_m_help_lists_the_verbs(package):
    done = _run(package, "--help", timeout=120)
    assert done.returncode == 0, done.stderr
    first_words = {path[0] for pkg, path in _all_verbs() if pkg == package}
    assert all(word in done.stdout for word in first_words)


def test_unknown_verb_is_a_usage_error():
    done = _run("eval", "no-such-verb", timeout=120)
    assert done.returncode == 2 and "invalid choice" in done.stderr and "Traceback" not in done.stderr


def test_ettin_registry_offline():
    done = _run("ettin", "registry", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["rerankers"]) == 6


def test_eval_leaderboard_offline(tmp_path):
    done = _run("eval", "leaderboard", "--out", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr
    assert {"quality.csv", "speed.json"} <= {p.name for p in tmp_path.iterdir()}


def test_train_data_candidates_offline(tmp_path):
    from ettin.corpus import scifact
    from eval.retrieval.data import subset, write_beir

    folder = write_beir(subset(scifact("test"), n_queries=4, n_documents=200), tmp_path / "beir")
    out = tmp_path / "cands.parquet"
    done = _run(
        "train", "data", "candidates", "--beir", str(folder), "--split", "test", "--first-stage", "bm25", "--depth", "5",
        "--out", str(out), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert 0 < table.num_rows <= 4 * 5 and set(table.column("query_id").to_pylist()) <= set(subset(scifact("test"), 4, 200).queries)


@pytest.mark.slow
def test_demo_load_offline(replica_17m, tmp_path):
    out = tmp_path / "load.json"
    done = _run(
        "demo", "load", "--models-dir", str(replica_17m.parent), "--reranker", "17m", "--queries", "2", "--concurrent", "2",
        "--k", "5", "--fair-docs", "30", "--fair-delay", "0.5", "--out", str(out),
        "--compile", "off",  # a cold compile costs over a minute; compiling is tested in tests/ettin and tests/app
        timeout=600, ETTIN_CACHE=os.environ["ETTIN_CACHE"],
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["warm_search_full_scifact"]["k5"]["n"] == 2 and result["concurrent_sample"]["succeeded"] == 2
    fair = result["fair_sharing"]
    assert fair["upload_1"].startswith("searched after") and fair["upload_2"].startswith("searched after"), fair
    assert result["settings"]["compile"] == "off"
