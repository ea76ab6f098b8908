"""The Evaluate tab's intake: every class of bad dataset and every hostile zip is refused with a message naming the
file (and line) and the fix, and nothing is written outside the session's folder."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from demo.evaluate import intake
from demo.evaluate.limits import MAX_ZIP_ENTRIES, EvaluateInputError

CORPUS = [{"_id": f"d{i}", "title": f"title {i}", "text": f"document number {i} about topic {i % 3}"} for i in range(6)]
QUERIES = [{"_id": f"q{i}", "text": f"topic {i}"} for i in range(3)]
QRELS = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\nq{i}\td{i + 3}\t2\n" for i in range(3))


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def beir_files(corpus=None, queries=None, qrels=None, split="test") -> dict[str, bytes]:
    """The three BEIR files of a tiny valid dataset, any of them replaced by raw bytes."""
    return {
        "corpus.jsonl": corpus if corpus is not None else _jsonl(CORPUS),
        "queries.jsonl": queries if queries is not None else _jsonl(QUERIES),
        f"qrels/{split}.tsv": qrels if qrels is not None else QRELS.encode(),
    }


def make_zip(path: Path, files: dict[str, bytes], top: str = "") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(top + name, data)
    return path


@pytest.fixture()
def token(tmp_path, monkeypatch):
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))
    return intake.new_session()


def _everything(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_zip_with_top_folder_and_without_is_previewed(token, tmp_path):
    for top in ("", "mydata/"):
        got = intake.from_zip(token, make_zip(tmp_path / "My Data!.zip", beir_files(), top), "My Data!.zip")
        assert (got.name, got.split, got.preview.splits) == ("my-data", "test", ["test"])
        p = got.preview
        assert (p.documents, p.queries, p.judged_queries, p.judgements, p.grades) == (6, 3, 3, 6, {1: 3, 2: 3})
        assert got.folder.parent == intake.session_folder(token)
        assert sorted(_everything(got.folder)) == ["corpus.jsonl", "qrels", "qrels/test.tsv", "queries.jsonl"]
        assert "6 documents" in p.markdown() and "grades 1: 3, 2: 3" in p.markdown()


def test_upload_names_never_become_markup_or_paths():
    assert intake.display_name("<img src=x onerror=alert(1)>.zip") == "img-src-x-onerror-alert-1"
    assert intake.display_name("../../../etc/passwd.zip") == "passwd"
    assert intake.display_name("***.zip") == "my-data"
    assert intake.plain_markdown("a *b* <i>") == "a \\*b\\* \\<i\\>"


def test_three_files_are_checked_and_kept_under_fixed_names(token, tmp_path):
    paths = []
    for name, data in beir_files().items():
        path = tmp_path / name.replace("/", "_")
        path.write_bytes(data)
        paths.append(path)
    got = intake.from_files(token, *paths, split="dev", name="../../etc/passwd")
    assert got.name == "passwd" and got.split == "dev"
    assert sorted(_everything(got.folder)) == ["corpus.jsonl", "qrels", "qrels/dev.tsv", "queries.jsonl"]


def test_bundled_scifact_preview(token):
    got = intake.preview_bundled(token, "test")
    assert got.bundled and got.preview.judged_queries == 300 and got.preview.documents == 5183
    with pytest.raises(EvaluateInputError, match="SciFact has no split 'dev'; choose one of test, train"):
        intake.preview_bundled(token, "dev")


BAD_DATASETS = {
    "malformed JSONL": (dict(corpus=_jsonl(CORPUS[:2]) + b'{"_id": "d9", "text": \n'),
                        r"corpus.jsonl, line 3: not valid JSON .*write one JSON object per line"),
    "missing _id": (dict(corpus=_jsonl([*CORPUS, {"text": "no id"}])),
                    r'corpus.jsonl, line 7: no "_id" field; every document needs "_id" and "text"'),
    "missing text": (dict(queries=_jsonl([{"_id": "q0"}])),
                     r'queries.jsonl, line 1: no "text" field; every query needs "_id" and "text"'),
    "duplicate ids": (dict(corpus=_jsonl([*CORPUS, CORPUS[1]])),
                      r"corpus.jsonl, line 7: duplicate id 'd1' \(first on line 2\); give every document its own id"),
    "non-UTF-8": (dict(queries=_jsonl(QUERIES) + '{"_id": "q9", "text": "caf\u00e9"}\n'.encode("latin-1")),
                  r"queries.jsonl, line 4: not UTF-8 text .*save the file as UTF-8"),
    "non-integer grade": (dict(qrels=b"query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t0.5\n"),
                          r"qrels/test.tsv, line 3: grade '0.5' is not a whole number; write relevance as 0, 1, 2"),
    "word grade": (dict(qrels=b"query-id\tcorpus-id\tscore\nq0\td0\thigh\n"),
                   r"qrels/test.tsv, line 2: grade 'high' is not a whole number"),
    "two columns": (dict(qrels=b"query-id\tcorpus-id\tscore\nq0 d0 1\n"),
                    r"qrels/test.tsv, line 2: 1 tab-separated column\(s\); write query-id<TAB>corpus-id<TAB>score"),
    "no judged query left": (dict(qrels=b"query-id\tcorpus-id\tscore\nq0\tnope\t1\nqx\td1\t1\n"),
                             r"qrels/test.tsv: no judged query left .*make the qrels' ids match"),
    "empty split": (dict(qrels=b"query-id\tcorpus-id\tscore\n"),
                    r"qrels/test.tsv: the split is empty .*add lines"),
    "empty corpus": (dict(corpus=b"\n"), r"corpus.jsonl: no documents \(the file is empty\)"),
    "nothing relevant": (dict(qrels=b"query-id\tcorpus-id\tscore\nq0\td0\t0\n"),
                         r"qrels/test.tsv: every judgement has grade ≤ 0"),
}


@pytest.mark.parametrize("case", list(BAD_DATASETS))
def test_bad_dataset_is_refused_naming_file_line_and_fix(case, token, tmp_path):
    kwargs, message = BAD_DATASETS[case]
    archive = make_zip(tmp_path / "bad.zip", beir_files(**kwargs))
    before = _everything(tmp_path)
    with pytest.raises(EvaluateInputError, match=message):
        intake.from_zip(token, archive, "bad.zip")
    assert _everything(tmp_path) == before, "a refused upload left files behind"
    assert not list(intake.session_folder(token).iterdir())


def test_unknown_ids_and_headerless_qrels_are_warnings(token, tmp_path):
    qrels = b"q0\td0\t1\nq1\td1\t1\nq1\tmissing\t1\nghost\td2\t1\nq2\td2\t2\n"
    got = intake.from_zip(token, make_zip(tmp_path / "w.zip", beir_files(qrels=qrels)), "w.zip")
    warnings = "\n".join(got.preview.warnings)
    assert "qrels/test.tsv, line 1: no header line" in warnings and "add the header" in warnings
    assert "1 judgement(s) name query ids not in queries.jsonl (first on line 4)" in warnings
    assert "1 judgement(s) name document ids not in corpus.jsonl (first on line 3)" in warnings
    assert got.preview.judged_queries == 3
    dataset, _ = intake.load_dataset(got)  # the CLI's loader reads the same judgements
    assert sorted(dataset.qrels) == ["q0", "q1", "q2"] and dataset.qrels["q0"] == {"d0": 1}


def test_missing_split_names_the_ones_found(token, tmp_path):
    with pytest.raises(EvaluateInputError, match=r"qrels/dev.tsv: not in the upload; choose one of the splits found: test"):
        intake.from_zip(token, make_zip(tmp_path / "s.zip", beir_files()), "s.zip", split="dev")


def _zip_with(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in beir_files().items():
            zf.writestr(name, data)
        for info, data in entries:
            zf.writestr(info, data)
    return path


def _symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def _bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in beir_files().items():
            zf.writestr(name, data + (b" " * (300 << 20) if name == "corpus.jsonl" else b""))
    return path


def _nested(path: Path) -> Path:
    inner = io.BytesIO()
    make_zip(inner, beir_files())  # type: ignore[arg-type]
    return _zip_with(path, [("inner.zip", inner.getvalue())])


def _disguised(path: Path) -> Path:
    inner = io.BytesIO()
    make_zip(inner, beir_files())  # type: ignore[arg-type]
    return make_zip(path, {**beir_files(), "queries.jsonl": inner.getvalue()})


HOSTILE = {
    "path traversal": (lambda p: _zip_with(p, [("../../escaped.txt", b"x")]), r"points outside the archive's folder"),
    "absolute path": (lambda p: _zip_with(p, [("/tmp/escaped.txt", b"x")]), r"points outside the archive's folder"),
    "symlink": (lambda p: _zip_with(p, [_symlink("qrels/link.tsv", "/etc/passwd")]), r"is a symbolic link: refused"),
    "nested zip": (_nested, r"'inner.zip' is an archive inside the archive: refused"),
    "disguised archive": (_disguised, r"'queries.jsonl' is itself an archive .*refused"),
    "zip bomb": (_bomb, r"MiB unpacked, above the 200 MiB limit"),
    "thousands of entries": (lambda p: _zip_with(p, [(f"junk/{i}.txt", b"") for i in range(3000)]),
                             rf"3,00\d entries, above the limit of {MAX_ZIP_ENTRIES}"),
    "not a zip": (lambda p: (p.write_bytes(b"not a zip at all"), p)[1], r"not a readable .zip"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_zip_is_refused_and_writes_nothing(case, token, tmp_path):
    build, message = HOSTILE[case]
    archive = build(tmp_path / "hostile.zip")
    cache = Path(os.environ["ETTIN_CACHE"])
    before = _everything(tmp_path)
    with pytest.raises(EvaluateInputError, match=message):
        intake.from_zip(token, archive, "hostile.zip")
    assert _everything(tmp_path) == before
    assert not list(intake.session_folder(token).iterdir()), "a refused zip left files in the session folder"
    assert not (cache.parent / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()


def test_ratio_bomb_is_refused(token, tmp_path, monkeypatch):
    from demo.evaluate import safezip

    monkeypatch.setattr(safezip, "MAX_UNCOMPRESSED_BYTES", 1 << 40)  # only the ratio can catch it now
    with pytest.raises(EvaluateInputError, match=r"unpacks .*× its compressed size \(limit 100×\), as a zip bomb"):
        intake.from_zip(token, _bomb(tmp_path / "ratio.zip"), "ratio.zip")


def test_session_tokens_never_become_other_paths(token):
    for bad in ("../" + token, token.upper(), "", None, token + "/x", "0" * 31):
        with pytest.raises(EvaluateInputError, match="reload the page"):
            intake.session_folder(bad)  # type: ignore[arg-type]
    other = intake.new_session()
    assert other != token and intake.session_folder(other) != intake.session_folder(token)


def test_bad_split_name_is_refused(token, tmp_path):
    with pytest.raises(EvaluateInputError, match="split name '../x' is not allowed"):
        intake.from_files(token, tmp_path, tmp_path, tmp_path, split="../x")
