"""The Evaluate tab's MTEB source: a retrieval task by name, its dataset resolved offline from a Hugging Face cache
folder the test fills (mteb's layout: a dataset card naming the ``corpus``, ``queries`` and ``default`` configs — for a
multilingual task ``<subset>-corpus`` … — over parquet files, at the revision mteb pins), read by mteb's own
``RetrievalDatasetLoader`` and written as BEIR files in the session's folder; the preview counts, the run's provenance,
and every kind of bad input refused with one message naming the problem and the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from demo.evaluate import intake
from demo.evaluate.limits import EvaluateInputError
from ettin.hub_cache import write_snapshot
from tests.app.test_evaluate_tab import tab_app, tab_url  # noqa: F401 - the tab alone, served (fixtures)

SOURCE = "An MTEB task"

CORPUS = [("d1", "Vitamin B12", "Vitamin B12 deficiency raises homocysteine."), ("d2", "", "Aspirin lowers fever."),
          ("d3", "Zinc", "Zinc shortens colds."), ("d4", "Sleep", "Sleep consolidates memory.")]  # fmt: skip
QUERIES = [("q1", "B12 and homocysteine"), ("q2", "what lowers fever"), ("q3", "sleep and memory"), ("q4", "unjudged")]
QRELS = {
    "test": [("q1", "d1", 2), ("q2", "d2", 1), ("q3", "d4", 1), ("q3", "d9", 1)],  # d9: not in the corpus
    "train": [("q1", "d3", 1)],
}


def _parquet(path: Path, columns: dict[str, list]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def _card(configs: dict[str, dict[str, str]]) -> str:
    """A dataset card whose YAML names ``configs`` ({config: {split: path pattern}}), as mteb's datasets have."""
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {path}" for split, path in splits.items()]
    return "\n".join([*lines, "---", "# a tiny stand-in", ""])


def mteb_dataset(folder: Path, subsets: dict[str, str] | None = None, qrels: dict | None = None) -> Path:
    """Write a tiny retrieval dataset in mteb's layout into ``folder``: one subset (``default``) or, for a
    multilingual task, ``subsets`` ({subset: the word every text starts with}), each with its corpus, queries and
    qrels configs over parquet files (ids in BEIR's ``_id`` column, which mteb's loader renames)."""
    configs: dict[str, dict[str, str]] = {}
    for subset, word in (subsets or {"default": ""}).items():
        prefix = "" if subset == "default" else f"{subset}-"
        where = "data" if subset == "default" else subset
        _parquet(folder / where / "corpus-0.parquet", {"_id": [d for d, _, _ in CORPUS], "title": [t for _, t, _ in CORPUS],
                                                       "text": [f"{word}{x}" for _, _, x in CORPUS]})  # fmt: skip
        _parquet(folder / where / "queries-0.parquet", {"_id": [q for q, _ in QUERIES], "text": [x for _, x in QUERIES]})
        for split, rows in (qrels or QRELS).items():
            _parquet(folder / where / f"qrels-{split}-0.parquet", {"query-id": [r[0] for r in rows],
                     "corpus-id": [r[1] for r in rows], "score": [r[2] for r in rows]})  # fmt: skip
        configs[f"{prefix}corpus"] = {"corpus": f"{where}/corpus-*"}
        configs[f"{prefix}queries"] = {"queries": f"{where}/queries-*"}
        configs[prefix + "qrels" if prefix else "default"] = {s: f"{where}/qrels-{s}-*" for s in (qrels or QRELS)}
    (folder / "README.md").write_text(_card(configs), encoding="utf-8")
    return folder


def pinned(task_name: str) -> tuple[str, str]:
    """The dataset path and revision mteb's registry pins for ``task_name``."""
    import mteb

    meta = mteb.get_task(task_name).metadata
    return meta.dataset["path"], meta.dataset["revision"]


@pytest.fixture()
def hf(tmp_path, monkeypatch):
    """An offline Hugging Face home in ``tmp_path``; ``put(task_name, folder)`` caches ``folder`` as that task's
    dataset at its pinned revision. ``datasets`` keeps its Arrow copies there too."""
    import datasets
    from huggingface_hub import constants

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", home / "datasets")
    monkeypatch.setattr(datasets.config, "DOWNLOADED_DATASETS_PATH", home / "datasets" / "downloads")

    def put(task_name: str, folder: Path) -> None:
        path, revision = pinned(task_name)
        write_snapshot(home / "hub", path, folder, revision, repo_type="dataset")

    return put


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_task_by_name_is_read_offline_into_the_session_folder_and_previewed(hf, tmp_path):
    hf("SciFact", mteb_dataset(tmp_path / "scifact"))
    token = intake.new_session()
    got = intake.from_mteb(token, "scifact")  # any case; no split: the task's eval split
    assert (got.name, got.split) == ("scifact", "test")
    assert got.folder.parent == intake.session_folder(token)
    corpus = [json.loads(line) for line in _lines(got.folder / "corpus.jsonl")]
    assert corpus[0] == {"_id": "d1", "text": "Vitamin B12 deficiency raises homocysteine.", "title": "Vitamin B12"}
    assert len(_lines(got.folder / "queries.jsonl")) == 3  # mteb keeps the judged queries only
    assert _lines(got.folder / "qrels" / "test.tsv") == ["query-id\tcorpus-id\tscore", "q1\td1\t2", "q2\td2\t1",
                                                         "q3\td4\t1", "q3\td9\t1"]  # fmt: skip
    p = got.preview
    assert (p.documents, p.queries, p.judged_queries, p.judgements, p.grades) == (4, 3, 3, 3, {1: 2, 2: 1})
    assert p.warnings == ["qrels/test.tsv: 1 judgement(s) name document ids not in corpus.jsonl (first on line 5); "
                          "they are skipped"]  # fmt: skip
    path, revision = pinned("SciFact")
    origin = f"mteb:SciFact (dataset {path}@{revision}, split test)"
    assert p.origin == origin and f"- from {intake.plain_markdown(origin)}" in p.markdown()
    assert intake.with_origin(got.folder, "local BEIR folder 'x'") == f"{origin}; local BEIR folder 'x'"


def test_another_split_is_read_and_one_the_task_lacks_is_refused_naming_its_splits(hf, tmp_path):
    hf("SciFact", mteb_dataset(tmp_path / "scifact"))
    token = intake.new_session()
    got = intake.from_mteb(token, "SciFact", "train")
    assert (got.split, got.preview.judged_queries, got.preview.queries) == ("train", 1, 1)
    with pytest.raises(EvaluateInputError, match=r"SciFact has no split 'dev'; choose one of (test, train|train, test)"):
        intake.from_mteb(token, "SciFact", "dev")
    assert {p.name for p in intake.session_folder(token).iterdir()} == {got.folder.name}  # nothing else left behind


def test_a_multilingual_task_is_read_from_its_english_subset(hf, tmp_path):
    hf("MultilingualNanoSciFactRetrieval", mteb_dataset(tmp_path / "nano", {"de": "DE: ", "en": "EN: ", "fr": "FR: "}))
    got = intake.from_mteb(intake.new_session(), "MultilingualNanoSciFactRetrieval")
    texts = {json.loads(line)["text"][:4] for line in _lines(got.folder / "corpus.jsonl")}
    assert texts == {"EN: "} and got.preview.documents == 4 and ", subset en, split test)" in got.preview.origin


def test_the_tabs_preview_takes_the_mteb_source(hf, tmp_path):
    from demo.tabs.evaluate import SOURCES, _Handlers

    hf("SciFact", mteb_dataset(tmp_path / "scifact"))
    token, got, markdown = _Handlers(None, None).preview(None, SOURCES[4], None, None, None, None, "", None, "SciFact")
    assert token and got.name == "scifact" and "**scifact** / split **test**" in markdown and "mteb:SciFact" in markdown


def test_the_endpoint_previews_a_task_and_refuses_bad_names_in_one_clean_line(hf, tmp_path, tab_url, make_client):
    from gradio_client.exceptions import AppError

    hf("SciFact", mteb_dataset(tmp_path / "scifact"))  # the tab is served from this process: it sees this cache
    client = make_client(tab_url)
    preview = lambda name: client.predict(SOURCE, None, None, None, None, "", "", name, api_name="/evaluate_preview")  # noqa: E731
    markdown = preview("SciFact")
    assert "mteb:SciFact" in markdown and "3 judged queries" in markdown
    for name, message in (("<script>x</script>", "contains markup"), ("SciFakt", "did you mean SciFact?"),
                          ("NFCorpus", "is not in the local Hugging Face cache (offline)")):  # fmt: skip
        with pytest.raises(AppError) as refused:
            preview(name)
        assert message in str(refused.value) and "Traceback" not in str(refused.value)
        assert "<script>" not in str(refused.value)


def test_the_run_records_the_mteb_origin_in_its_provenance(hf, tmp_path):
    from demo.evaluate.worker import run_job

    hf("SciFact", mteb_dataset(tmp_path / "scifact"))
    got = intake.from_mteb(intake.new_session(), "SciFact")
    job = tmp_path / "job"
    job.mkdir()
    spec = {"folder": str(got.folder), "name": got.name, "split": got.split, "first_stages": ["bm25"], "rerankers": [],
            "top_k": 3, "sample": None, "seed": 0, "n_queries": got.preview.judged_queries}  # fmt: skip
    (job / "spec.json").write_text(json.dumps(spec))
    run_job(job)
    record = json.loads(next((job / "results").rglob("*.json")).read_text())
    assert record["provenance"]["dataset"]["source"].startswith(got.preview.origin + "; local BEIR folder")


@pytest.mark.parametrize(("name", "message"), [
    ("", "no MTEB task name: write one, e.g. SciFact"),
    (None, "no MTEB task name"),
    (5, "the MTEB task name must be text, not int"),
    (["SciFact"], "the MTEB task name must be text, not list"),
    ("S" * 101, "is 101 characters long; mteb's names are at most 100"),
    ("<img src=x onerror=alert(1)>", "contains markup"),
    ("../../etc/passwd", "looks like a path or a Hub id, not an MTEB task name"),
    ("mteb/scifact", "looks like a path or a Hub id"),
    ("Sci Fact", "is not an MTEB task name (letters, digits"),
    ("SciFakt", "mteb has no task named 'SciFakt': did you mean SciFact?"),
    ("Qwxyzzy", "mteb has no task named 'Qwxyzzy': write one of mteb's names"),
    ("Banking77Classification", "is an mteb Classification task (AbsTaskClassification), not a retrieval task"),
    ("SciDocsRR", "is an mteb Reranking task, not plain retrieval"),
    ("IndicQARetrieval", "multilingual with no English subset (its subsets: as, bn, gu"),
    ("REALTALK", "has 3 English subsets (commonsense, multi_hop, temporal_reasoning); this tab reads one subset"),
    ("SadeemQuestionRetrieval", "reads its data with its own code"),
    ("MSMARCO", "has 8,841,823 documents (the limit here: 100,000)"),
    ("NFCorpus", "dataset mteb/nfcorpus@ec0fa4fe99da is not in the local Hugging Face cache (offline): run it once "
                 "online, e.g. hf download mteb/nfcorpus --repo-type dataset --revision"),
])  # fmt: skip
def test_what_cannot_be_evaluated_is_refused_with_the_fix(hf, name, message):
    token = intake.new_session()
    with pytest.raises(EvaluateInputError) as refused:
        intake.from_mteb(token, name)
    assert message in str(refused.value)
    assert not list(intake.session_folder(token).iterdir())  # nothing left behind


def test_big_tasks_name_the_cli_command():
    with pytest.raises(EvaluateInputError, match=r"run it with python -m eval mteb --tasks MSMARCO --embedders bm25"):
        intake.from_mteb(intake.new_session(), "MSMARCO")


def test_a_cached_card_without_its_data_files_is_refused(hf, tmp_path):
    folder = mteb_dataset(tmp_path / "nfcorpus")
    for parquet in folder.rglob("queries-*.parquet"):
        parquet.unlink()
    hf("NFCorpus", folder)
    with pytest.raises(EvaluateInputError, match=r"NFCorpus: its data could not be read \(offline: a part of it is "
                                                 r"missing from the local Hugging Face cache; run it once online\)"):  # fmt: skip
        intake.from_mteb(intake.new_session(), "NFCorpus")


def test_online_a_big_download_is_refused_before_it_starts(tmp_path, monkeypatch):
    """The Hub replaced by a fake (no network here): the card is served, the dry run reports the files' sizes, and a
    download must never start."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.file_download import DryRunFileInfo

    from demo.evaluate import mteb_task

    card = mteb_dataset(tmp_path / "nano", {"de": "", "en": ""}) / "README.md"
    asked: list[list[str]] = []

    def fake_hub_snapshot_download(repo_id, *, dry_run=False, allow_patterns=None, **kwargs):
        assert dry_run, "a download started before the size check"
        asked.append(list(allow_patterns))
        return [DryRunFileInfo("0" * 40, 150 * 2**20, p, "", False, True) for p in ("en/corpus-0.parquet", "en/q.parquet")]

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: str(card))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_hub_snapshot_download)
    with pytest.raises(EvaluateInputError, match=r"its data files are 300 MiB, above the 200 MiB limit: "
                                                 r"run it with python -m eval mteb --tasks MultilingualNanoSciFact"):  # fmt: skip
        mteb_task.fetch_mteb_task("MultilingualNanoSciFactRetrieval", None, tmp_path / "staging")
    assert asked == [["README.md", "en/corpus-*", "en/queries-*", "en/qrels-test-*", "en/qrels-train-*"]]  # the English subset's files only


def test_mteb_is_imported_only_on_this_path():
    code = ("import sys, demo.evaluate.intake, demo.evaluate.mteb_task, demo.evaluate.hub; "
            "assert 'mteb' not in sys.modules and 'datasets' not in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_queries_that_are_not_text_are_refused_and_unused_candidates_noted(tmp_path):
    from datasets import Dataset

    from demo.evaluate.mteb_task import MtebSource, write_beir

    source = MtebSource("SomeTask", "org/some", "0" * 40, "default", "test")
    corpus = Dataset.from_dict({"id": ["d1"], "title": ["t"], "text": ["x"]})
    data = {"corpus": corpus, "queries": Dataset.from_dict({"id": ["q1"], "text": ["y"]}),
            "relevant_docs": {"q1": {"d1": 1}}, "top_ranked": {"q1": ["d1"]}}  # fmt: skip
    write_beir(source, data, tmp_path / "ok")
    assert source.notes == ["SomeTask ships candidate lists (top_ranked) for each query; they are not used: each first "
                            "stage retrieves from the whole corpus"]  # fmt: skip
    data["queries"] = Dataset.from_dict({"id": ["q1"], "text": [["a turn", "another turn"]]})
    with pytest.raises(EvaluateInputError, match=r"SomeTask: its queries are lists, not plain text .* python -m eval mteb"):
        write_beir(source, data, tmp_path / "conversations")


def test_the_reproduce_command_writes_the_folder_the_tab_read(hf, tmp_path, capsys):
    from demo.__main__ import main as demo_main
    from demo.evaluate.plan import Plan, cli_command

    hf("SciFact", mteb_dataset(tmp_path / "scifact"))
    got = intake.from_mteb(intake.new_session(), "SciFact", "train")
    command = cli_command(Plan(got, ["bm25"], [], 10, None, 0, got.preview.judged_queries))
    first, second = command.split(" && ")
    assert first == "python -m demo mteb-data SciFact --split train --out DATA"
    assert second.startswith("python -m eval retrieval --data DATA --split train")
    out = tmp_path / "data"
    assert demo_main([*first.split()[3:-1], str(out)]) == 0
    assert f"from {got.preview.origin}" in capsys.readouterr().out
    files = lambda folder: {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}  # noqa: E731
    assert files(out) == files(got.folder)  # the same BEIR files and origin as the tab's
    assert demo_main([*first.split()[3:-1], str(out)]) == 2  # an existing folder is never overwritten
    assert "exists and is not empty: pass --out with a new folder" in capsys.readouterr().err
    assert demo_main(["mteb-data", "SciFakt", "--out", str(tmp_path / "other")]) == 2
    assert "did you mean SciFact?" in capsys.readouterr().err and not (tmp_path / "other").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left behind
    sample = cli_command(Plan(got, ["bm25"], [], 10, 5, 0, 5))
    assert "mteb-data" not in sample and "--data DATA" in sample  # a sample: the sample's folder from the download
