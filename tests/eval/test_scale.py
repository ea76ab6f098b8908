"""``python -m eval scale``: docs/scale.md's figures equal a fresh run, the arithmetic holds on known inputs, the inputs
are the post's, and every command on the page parses with its CLI's parser (torchrun's included)."""

from __future__ import annotations

import importlib
import json
import math
import re
import shlex

import pytest

from ettin.cli import build_parser
from ettin.cli import main as run_cli
from ettin.paths import PROJECT_ROOT
from ettin.registry import EMBEDDERS, RERANKERS, SIZES, TEACHER_ID, published
from eval import scale as sc

DOC = PROJECT_ROOT / "docs" / "scale.md"


@pytest.fixture(scope="module")
def plan() -> sc.ScalePlan:
    """The plan from mteb's metadata and the post's tables (what docs/scale.md shows)."""
    return sc.build_plan()


def _task(name: str, queries: int, documents: int, query_chars: float = 50.0, document_chars: float = 450.0) -> sc.TaskSize:
    return sc.TaskSize(name=name, split="test", queries=queries, documents=documents, mean_query_chars=query_chars,
                       mean_document_chars=document_chars, characters=queries * 50 + documents * 450)


def test_the_documents_figures_equal_a_fresh_run(plan):
    assert sc.generated_section(DOC.read_text(encoding="utf-8")) == sc.render_markdown(plan), (
        "docs/scale.md is stale: run python -m eval scale --markdown docs/scale.md"
    )


def test_pairs_hours_nodes_and_bytes_from_known_inputs():
    reference = _task("REF", 1, 1000, 40.0, 460.0)  # 500 characters a pair
    grid = [_task("T1", 10, 1000, 50.0, 450.0), _task("T2", 3, 50, 150.0, 1350.0)]  # T2's corpus is below the top-100
    nano = [_task("N1", 50, 5000), _task("N2", 49, 80)]
    plan = sc.build_plan(mteb_tasks=grid, nanobeir_tasks=nano, reference=reference, gpus_per_node=4, turnaround_hours=10)
    jobs = {job: plan.job_totals(rows) for job, rows in plan.jobs().items()}
    n_emb, n_sizes = len(EMBEDDERS), len(SIZES)
    assert (n_emb, n_sizes) == (6, 6)

    per_reranker = 10 * 100 * 6 + 3 * 50 * 6
    assert plan.mteb_grid_pairs_per_reranker() == per_reranker == 6_900
    assert jobs[sc.JOB_GRID]["pairs"] == per_reranker * 6 == 41_400
    assert jobs[sc.JOB_GRID_TEACHER]["pairs"] == per_reranker
    one_b = next(r for r in plan.rows if r.job == sc.JOB_GRID and r.model == RERANKERS["1b"].hub_id)
    assert one_b.pairs_per_s == 928
    assert one_b.gpu_hours == pytest.approx(6_900 / 928 / 3600)
    # pair-weighted characters: (6000 x 500 + 900 x 1500) / 6900 over the reference's 500
    assert one_b.length_factor == pytest.approx((6000 * 500 + 900 * 1500) / 6900 / 500)
    assert one_b.score_bytes == 6_900 * 20

    assert plan.nanobeir_pairs_per_eval() == 50 * 100 + 49 * 80
    assert plan.nanobeir_evals_per_run == 20
    assert jobs[sc.JOB_NANO_TRAINING]["pairs"] == (5000 + 3920) * 20 * 6
    assert jobs[sc.JOB_NANO_FINAL]["pairs"] == (5000 + 3920) * 7

    rescore = next(r for r in plan.rows if r.job == sc.JOB_RESCORE)
    assert (rescore.model, rescore.pairs, rescore.pairs_per_s) == (TEACHER_ID, 143_000_000, 387)
    assert rescore.gpu_hours == pytest.approx(143e6 / 387 / 3600) and 102.6 < rescore.gpu_hours < 102.7
    assert rescore.score_bytes == 143_000_000 * 12
    assert jobs[sc.JOB_RESCORE]["nodes_for_turnaround"] == math.ceil(102.64 / (4 * 10)) == 3
    assert jobs[sc.JOB_CANDIDATES]["pairs"] == (143_000_000 - 110_000_000) // 64 * 2048 == 1_056_000_000
    assert plan.nodes_for(0.01) == 1 and plan.nodes_for(40.0) == 1 and plan.nodes_for(40.01) == 2


def test_the_grid_is_the_issues_queries_x_100_x_6_x_6(plan):
    queries = sum(t.queries for t in plan.mteb_tasks)
    assert len(plan.mteb_tasks) == 10 and 8_700 < queries < 8_900  # the issue: "about 8,800 queries"
    assert all(t.documents > 100 for t in plan.mteb_tasks)
    assert plan.job_totals(plan.jobs()[sc.JOB_GRID])["pairs"] == queries * 100 * 6 * 6
    assert len(plan.nanobeir_tasks) == 13 and {t.queries for t in plan.nanobeir_tasks} <= {49, 50}


def test_the_constants_are_the_posts():
    post = published()
    constants = post.training_constants
    assert "143M" in constants["train_data"] and "110M" in constants["train_data"]
    assert "64 of the 256" in constants["rescored_subsampling"] and "2048 candidates" in constants["rescored_subsampling"]
    assert "top-100" in post.mteb.protocol and "10 Retrieval tasks of MTEB(eng, v2)" in post.mteb.protocol
    assert "13 NanoBEIR datasets" in post.nanobeir.protocol and "top-100" in post.nanobeir.protocol
    assert len(constants["nanobeir_datasets"]) == 13
    assert post.speed["h100_bf16"].rate(TEACHER_ID) == 387


def _commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(("torchrun ", "python -m "))]


def test_every_command_on_the_page_parses_with_its_cli():
    from torch.distributed.run import get_args_parser

    commands = _commands(DOC.read_text(encoding="utf-8"))
    verbs = set()
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "torchrun":
            launch = get_args_parser().parse_args(argv[1:])
            assert launch.module and launch.nproc_per_node == "8" and launch.rdzv_backend == "c10d", command
            assert int(launch.nnodes) >= 1 and launch.rdzv_endpoint == "HOST:29500", command
            package, args = launch.training_script, launch.training_script_args
        else:
            package, args = argv[2], argv[3:]
        modules = importlib.import_module(f"{package}.__main__").VERB_MODULES
        parsed = build_parser(f"python -m {package}", "", modules).parse_args(args)  # SystemExit(2) on a bad flag
        verbs.add((argv[0], package, args[0]))
        assert parsed._run is not None
    assert {("torchrun", "train", "score"), ("torchrun", "eval", "retrieval"), ("torchrun", "train", "fit"),
            ("python", "eval", "nanobeir"), ("python", "eval", "scale")} <= verbs


def test_markdown_flag_fills_only_the_markers_and_check_catches_drift(tmp_path, capsys):
    doc = tmp_path / "scale.md"
    doc.write_text(f"# prose kept\n\n{sc.BEGIN_MARKER}\nstale 42\n{sc.END_MARKER}\ntail kept\n", encoding="utf-8")
    out = tmp_path / "plan.json"
    assert run_cli("python -m eval", "", ["eval.scale.cli"], ["scale", "--markdown", str(doc), "--out", str(out)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# prose kept\n\n") and text.endswith(f"{sc.END_MARKER}\ntail kept\n") and "stale 42" not in text
    assert sc.generated_section(text) == sc.generated_section(DOC.read_text(encoding="utf-8"))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["schema"] == "ettin.scale/1" and data["jobs"][sc.JOB_GRID]["pairs"] == 31_752_000
    assert data["provenance"]["mteb"] and "measured" in data["provenance"]

    assert run_cli("python -m eval", "", ["eval.scale.cli"], ["scale", "--markdown", str(doc), "--check"]) == 0
    doc.write_text(text.replace("31,752,000", "31,752,001"), encoding="utf-8")
    assert run_cli("python -m eval", "", ["eval.scale.cli"], ["scale", "--markdown", str(doc), "--check"]) == 1
    assert "regenerate" in capsys.readouterr().err


def test_a_document_without_markers_is_a_clear_error(tmp_path, capsys):
    doc = tmp_path / "plain.md"
    doc.write_text("no markers\n", encoding="utf-8")
    assert run_cli("python -m eval", "", ["eval.scale.cli"], ["scale", "--markdown", str(doc), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and sc.BEGIN_MARKER in err and "Traceback" not in err
