"""The Search tab's results: readable headers, no empty columns, rows that expand to the whole document, score bars,
sigmoid scores, a chart only when something moved, and Python that reproduces the shown ranking."""

from __future__ import annotations

import math
import re

import pytest

from demo.search.playground import Playground
from demo.views import figures
from demo.views.frames import (
    RESULT_HEADERS,
    movement_frame,
    ranking_code,
    results_frame,
    results_html,
    results_table,
    sigmoid,
)
from ettin.corpus import Corpus

LONG = "pears " + "and more words about pears " * 20 + "THE END"  # longer than a snippet


@pytest.fixture(scope="module")
def untitled_outcome():
    """BM25 alone over pasted-like documents (no titles), one of them long and one holding markup."""
    play = Playground(None, include_hub=False)
    corpus = Corpus.from_texts(["apples and pears", LONG, "<script>alert('pears')</script>", "nothing"])
    return play.search("pears", corpus, "bm25", None, k=10, top_n=10)


def test_headers_are_short_words_and_empty_columns_are_hidden(untitled_outcome):
    table = results_table(results_frame(untitled_outcome))
    assert not any("_" in h for h in table.columns)  # snake_case headers wrapped one letter per line
    assert list(table.columns) == ["rank", "was", "moved", "1st-stage score", "id", "snippet"]
    # no reranker: no score column; pasted text: no titles; not a judged query: no relevance
    assert not {"score", "0–1", "title", "relevant"} & set(table.columns)
    assert set(RESULT_HEADERS) == set(results_frame(untitled_outcome).columns)


def test_rows_expand_to_the_whole_document_with_markup_escaped(untitled_outcome):
    page = results_html(untitled_outcome)
    hits = untitled_outcome.result.hits
    assert page.count("<details") == len(hits) == 3
    assert "THE END" in page  # the whole long document is in its row (the snippet stops long before)
    snippets = re.findall(r'<span class="snippet">(.*?)</span>', page)
    assert len(snippets) == 3 and not any("THE END" in s for s in snippets) and any(s.endswith("…") for s in snippets)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'class="moved' not in page  # nothing was reranked: no movement column


def test_score_bars_span_the_candidates_and_sigmoid_is_shown_on_request(replica_17m):
    play = Playground(replica_17m.parent, include_hub=False)
    corpus = Corpus.from_texts([f"document {i} about pears and topic {i % 3}" for i in range(12)])
    out = play.search("pears topic 1", corpus, "bm25", "17m", k=12, top_n=12, precision="fp32")
    widths = [float(w) for w in re.findall(r'class="bar"><span style="width:(\d+)%', results_html(out))]
    assert len(widths) == 12 and max(widths) == 100 and min(widths) == 0 and widths == sorted(widths, reverse=True)
    normalised = results_html(out, normalise=True)
    top = out.result.hits[0].rerank_score
    assert f"{top:.3f} · {sigmoid(top):.2f}" in normalised
    table = results_table(results_frame(out), normalise=True)
    assert list(table["0–1"]) == [round(sigmoid(h.rerank_score), 4) for h in out.result.hits]
    assert "0–1" not in results_table(results_frame(out)).columns
    assert sigmoid(0.0) == 0.5 and sigmoid(-800.0) == pytest.approx(0.0) and sigmoid(800.0) == 1.0
    assert sigmoid(2.0) == pytest.approx(1 / (1 + math.exp(-2.0)))

    # the snippet the app shows runs as is and gives the same ranking and raw scores
    code = ranking_code(out, str(replica_17m))
    assert "dtype" in code and "max_length=" in code and ".rank(query, documents, top_k=12" in code
    printed = []
    exec(compile(code, "snippet", "exec"), {"print": lambda *a: printed.append(a)})  # noqa: S102 - our own snippet
    by_first_stage = sorted(out.result.candidates, key=lambda h: h.first_stage_rank)
    assert [by_first_stage[i].doc_id for i, _, _ in printed] == [h.doc_id for h in out.result.hits]
    assert [s for _, s, _ in printed] == pytest.approx([round(h.rerank_score, 4) for h in out.result.hits], abs=2e-3)


def test_the_movement_chart_is_a_message_when_nothing_was_reranked(untitled_outcome):
    fig = figures.movement_figure(movement_frame(untitled_outcome))
    assert not fig.data and "No reranker ran" in fig.layout.annotations[0].text
