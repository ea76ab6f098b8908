from __future__ import annotations

import gzip

import pytest

from ettin.corpus import Corpus, DataFormatError, load_beir, load_qrels


def test_bundled_scifact_matches_beir_counts(scifact_test):
    assert len(scifact_test.corpus) == 5183
    assert len(scifact_test.queries) == 300
    assert sum(len(v) for v in scifact_test.qrels.values()) == 339
    assert len({d for v in scifact_test.qrels.values() for d in v}) == 283
    total = sum(len(scifact_test.corpus.document_text(i)) for i in range(len(scifact_test.corpus)))
    assert total == 7_771_451  # mteb descriptive statistics for SciFact


def test_bundled_corpus_is_byte_identical_to_beir():
    import hashlib

    from ettin.paths import BUNDLED_SCIFACT

    with gzip.open(BUNDLED_SCIFACT / "corpus.jsonl.gz", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == "dec31c8182f3d744c7d2c09423756fd1d17cbef75808db13ba01cc0aab4d1ac6"


def _write_beir(root, corpus_lines, queries_lines, qrels_text):
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_bytes(corpus_lines)
    (root / "queries.jsonl").write_bytes(queries_lines)
    (root / "qrels" / "test.tsv").write_bytes(qrels_text)


def test_crlf_header_zero_scores_and_unknown_ids(tmp_path):
    corpus = b'{"_id": "d1", "title": "T", "text": "one"}\n{"_id": "d2", "text": "two"}\n'
    queries = b'{"_id": "q1", "text": "first"}\n{"_id": "q2", "text": "second"}\n'
    qrels = b"query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1\td2\t0\r\nq2\tmissing\t1\r\nq9\td1\t1\r\n"
    _write_beir(tmp_path, corpus, queries, qrels)
    ds = load_beir(tmp_path)
    assert ds.qrels == {"q1": {"d1": 1, "d2": 0}}
    assert list(ds.queries) == ["q1"]
    assert len(ds.warnings) == 2 and ds.corpus.document_text(0) == "T one"


@pytest.mark.parametrize(
    "corpus, message",
    [
        (b'{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n', "line 2: duplicate document id"),
        (b'{"_id": "d1"}\n', "line 1: missing field"),
        (b'{"_id": "d1", "text": "a"\n', "line 1: not valid JSON"),
        (b'{"_id": "d1", "text": "\xff\xfe"}\n', "line 1: invalid UTF-8"),
    ],
)
def test_malformed_corpus_names_file_and_line(tmp_path, corpus, message):
    _write_beir(tmp_path, corpus, b'{"_id": "q1", "text": "x"}\n', b"q1\td1\t1\n")
    with pytest.raises(DataFormatError, match=f"corpus.jsonl, {message}"):
        load_beir(tmp_path)


def test_malformed_qrels(tmp_path):
    p = tmp_path / "q.tsv"
    p.write_text("q1\td1\n")
    with pytest.raises(DataFormatError, match="line 1: expected 3"):
        load_qrels(p)
    p.write_text("q1\td1\tx1\nq1\td1\tyes\n")
    with pytest.raises(DataFormatError, match="line 2"):
        load_qrels(p)


def test_corpus_validation():
    with pytest.raises(ValueError, match="empty"):
        Corpus.from_texts([])
    with pytest.raises(TypeError, match="document 1"):
        Corpus.from_texts(["ok", 3])
    with pytest.raises(TypeError):
        Corpus.from_texts("a single string")
    a, b = Corpus.from_texts(["x", "y"]), Corpus.from_texts(["x", "y"])
    assert a.fingerprint == b.fingerprint != Corpus.from_texts(["x", "z"]).fingerprint
