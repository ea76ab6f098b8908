"""User corpora: pasted and uploaded documents are parsed, capped and refused with clear messages."""

from __future__ import annotations

import json
import re

import pytest

from demo.sources.user_corpus import (
    EXAMPLE_QUERY_IDS,
    MAX_DOCUMENTS,
    MAX_UPLOAD_BYTES,
    CorpusInputError,
    example_queries,
    parse_pasted,
    parse_upload,
    sample_corpus,
    sample_relevance,
)


def test_pasted_lines_become_documents_and_duplicates_are_removed_with_a_note():
    parsed = parse_pasted("alpha beta\n\n  gamma  \nalpha beta\n")
    assert parsed.corpus.texts == ("alpha beta", "gamma")
    assert parsed.corpus.ids == ("d0", "d1")
    assert "1 duplicate document removed" in parsed.summary()


def test_one_document_is_accepted_with_a_note():
    parsed = parse_pasted("only one")
    assert len(parsed.corpus) == 1
    assert "only one document" in parsed.summary()


@pytest.mark.parametrize("text", ["", "   \n\n\t", "\n"])
def test_no_documents_is_refused(text):
    with pytest.raises(CorpusInputError, match="no documents"):
        parse_pasted(text)


def test_too_many_documents_is_refused():
    with pytest.raises(CorpusInputError, match=f"limit is {MAX_DOCUMENTS:,}"):
        parse_pasted("\n".join(f"doc {i}" for i in range(MAX_DOCUMENTS + 1)))


def test_oversized_upload_is_refused_before_parsing():
    with pytest.raises(CorpusInputError, match="limit is 2 MB"):
        parse_upload("big.txt", b"a\n" * (MAX_UPLOAD_BYTES // 2 + 1))


def test_jsonl_upload_keeps_ids_and_titles():
    data = "\n".join(json.dumps(r) for r in [{"_id": "a", "title": "T1", "text": "one"}, {"id": 7, "text": "two"}, "three"])
    corpus = parse_upload("docs.JSONL", data.encode()).corpus
    assert corpus.ids == ("a", "7", "d2")
    assert corpus.titles == ("T1", "", "")
    assert corpus.document_text(0) == "T1 one"


def test_csv_upload_with_quoted_fields():
    data = 'id,title,text\n1,First,"hello, world"\n2,,"multi\nline"\n'
    corpus = parse_upload("docs.csv", data.encode()).corpus
    assert corpus.ids == ("1", "2") and corpus.texts == ("hello, world", "multi\nline")


def test_utf8_bom_is_accepted():
    assert parse_upload("a.txt", "\ufeffcafé\nthé".encode()).corpus.texts == ("café", "thé")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("x.bin", b"abc", "unsupported file type"),
        ("noext", b"abc", "unsupported file type"),
        ("x.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("x.txt", b"ok line\n\xff\xfe bad", "not valid UTF-8"),
        ("x.jsonl", b'{"text": "ok"}\n{"text": broken}\n', "line 2 is not valid JSON"),
        ("x.jsonl", b'{"title": "no text"}\n', "missing the \"text\" field"),
        ("x.jsonl", b"[1, 2]\n", "must be a JSON object"),
        ("x.jsonl", b'{"text": 5}\n', "must be strings"),
        ("x.jsonl", b'{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n', "ids must be unique"),
        ("x.csv", b"title,body\nT,B\n", "needs a header row with a \"text\" column"),
        ("x.csv", b'text,title\n"unterminated,x\n', "malformed"),
        ("x.csv", b"text,title\na,b,c\n", "row 2 has 3 fields"),
        ("x.csv", b"", "no documents"),
        ("x.txt", b"\n\n", "no documents"),
    ],
)
def test_bad_uploads_get_a_clear_message(name, data, message):
    with pytest.raises(CorpusInputError, match=message):
        parse_upload(name, data)


def test_filename_is_never_used_as_a_path():
    # a hostile name only contributes its extension; nothing is read from or written to it
    parsed = parse_upload("../../../../etc/passwd.txt", b"harmless")
    assert parsed.corpus.name == "upload.txt"


def test_sample_corpus_holds_the_documents_relevant_to_every_example_query():
    corpus = sample_corpus()
    assert 1000 <= len(corpus) <= 1100
    assert len(example_queries()) == len(EXAMPLE_QUERY_IDS)
    ids = set(corpus.ids)
    for query, relevant in sample_relevance().items():
        assert relevant and relevant <= ids, query


# ---- hostile input, one test per class --------------------------------------------------------------------------------


def test_jsonl_duplicates_are_dropped_before_the_document_limit_is_applied():
    rows = [json.dumps({"text": "the same text"})] * 4001 + [json.dumps({"text": f"doc {i}"}) for i in range(999)]
    parsed = parse_upload("many.jsonl", "\n".join(rows).encode())
    assert len(parsed.corpus) == 1000 and "4000 duplicate documents removed" in parsed.summary()
    too_many = [json.dumps({"text": f"doc {i}"}) for i in range(MAX_DOCUMENTS + 1)]
    with pytest.raises(CorpusInputError, match=f"{MAX_DOCUMENTS + 1:,} documents; the limit is {MAX_DOCUMENTS:,}"):
        parse_upload("many.jsonl", "\n".join(too_many).encode())


def test_lone_surrogates_in_documents_are_replaced_with_a_note_and_refused_in_queries():
    parsed = parse_upload("s.jsonl", b'{"text": "bad \\ud800 char"}\n{"text": "fine"}\n')
    assert parsed.corpus.texts[0] == "bad \ufffd char" and "1 document had invalid characters" in parsed.summary()
    parsed = parse_pasted("bad \ud800 char\nfine")
    assert parsed.corpus.texts[0] == "bad \ufffd char"
    from ettin.pipeline import InputError, validate_query

    with pytest.raises(InputError, match="lone UTF-16 surrogate"):
        validate_query("vitamin \udc00 b12")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[" * 200_000 + "]" * 200_000, "line 1 is nested too deeply"),
        ('{"_id": ' + "9" * 5000 + ', "text": "x"}', "line 1 holds a number too long to read"),
        ('{"_id": "' + "a" * 201 + '", "text": "x"}', "longer than 200 characters"),
        ('{"_id": [1, 2], "text": "x"}', "must be a string or a whole number, not list"),
        ('{"_id": 1.5, "text": "x"}', "must be a string or a whole number, not float"),
        ('{"_id": true, "text": "x"}', "must be a string or a whole number, not bool"),
        ('{"text": NaN}', '"text" and "title" must be strings'),
        ('{"text": ["a"]}', '"text" and "title" must be strings'),
    ],
    ids=["nested-200k", "5000-digit-id", "long-id", "list-id", "float-id", "bool-id", "nan-text", "list-text"],
)
def test_malformed_jsonl_values_are_clean_errors(line, message):
    with pytest.raises(CorpusInputError, match=re.escape(message)):
        parse_upload("bad.jsonl", line.encode())


def test_whole_number_ids_are_kept_as_text():
    parsed = parse_upload("ids.jsonl", b'{"_id": 7, "text": "a"}\n{"id": "x-1", "text": "b"}\n')
    assert parsed.corpus.ids == ("7", "x-1")
