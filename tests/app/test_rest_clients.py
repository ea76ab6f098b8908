"""The real clients against the rerank routes served over real HTTP: the ``cohere`` SDK (``Client`` and ``ClientV2``),
langchain-cohere's ``CohereRerank``, the README's snippets as written, the busy 503 with ``Retry-After``, the API key
through the SDK, and the routes inside the running Gradio app (``/openapi.json``, ``/docs``)."""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from demo.api import rest
from demo.api.formats import IGNORED
from demo.api.rest import add_rerank_route
from demo.search.playground import Playground
from demo.tools.server import free_port
from demo.views.frames import sigmoid
from ettin.fusion import fused_name

cohere = pytest.importorskip("cohere", reason="the cohere SDK is a test extra: pip install -r requirements-test.txt")

README = Path(__file__).resolve().parents[2] / "README.md"
README_URL = "http://127.0.0.1:7860"
SHIPPED = "minilm-scifact"
QUERY = "What causes scurvy?"
DOCS = ["The stock market fell on Tuesday.", "Scurvy is a disease caused by a lack of vitamin C.", "Cats sleep a lot."]


@contextlib.contextmanager
def serving(app: FastAPI):
    """``app`` served by uvicorn on a free port of 127.0.0.1 in a thread; its URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 30 s"
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def play(minilm_package, replica_17m):
    """The shipped reranker (a real model: the right document wins) and the 17m replica."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ETTIN_TRAINED_RERANKERS", "1")
        return Playground(replica_17m.parent, include_hub=False)


@pytest.fixture(scope="module")
def url(play):
    app = FastAPI()
    add_rerank_route(app, play, api_key="")
    with serving(app) as base:
        yield base


def _readme_snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it as a reranking server", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_snippets_run_as_written_against_the_server(url):
    snippets = _readme_snippets()
    assert len(snippets) == 4 and all(README_URL in s for s in snippets)
    found = {}
    for snippet in snippets:
        namespace: dict = {}
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exec(compile(snippet.replace(README_URL, url), "README.md", "exec"), namespace)  # noqa: S102 - our README
        assert printed.getvalue().strip(), snippet
        found.update(namespace)
    assert found["ranked"].results[0].index == 1 and found["ranked"].results[0].relevance_score > 0.5
    assert found["ranked_v1"].results[0].index == 1 and found["ranked_v1"].results[0].document.text.startswith("A disease")
    assert found["kept"][0].page_content.startswith("Scurvy") and len(found["kept"]) == 1
    assert found["tei"][0]["index"] == 1 and found["tei"][0]["text"].startswith("Scurvy")


def test_cohere_v1_client_with_every_field(url, play):
    co = cohere.Client(api_key="unused", base_url=url)
    out = co.rerank(model="17m", query=QUERY, documents=DOCS, top_n=2, return_documents=True, max_chunks_per_doc=3)
    model = play.reranker(play.reranker_choice("17m"))
    logits = [float(s) for s in model.score_pairs([(QUERY, d) for d in DOCS])]
    assert [r.index for r in out.results] == sorted(range(3), key=lambda i: (-logits[i], i))[:2]
    for r in out.results:
        assert r.relevance_score == pytest.approx(sigmoid(logits[r.index]), abs=1e-6) and r.document.text == DOCS[r.index]
    assert out.meta.billed_units.search_units == 1 and out.meta.api_version.version == "1"
    assert IGNORED["max_chunks_per_doc"] in out.meta.warnings and out.id


def _shipped_fuse_weight() -> float:
    from ettin.adapter import read_adapter_metadata
    from ettin.paths import RESOURCES
    from ettin.registry import TRAINED_RERANKERS

    return read_adapter_metadata(RESOURCES / TRAINED_RERANKERS[SHIPPED].folder)["trained_here"]["fuse_weight"]


def test_cohere_v2_client_and_its_errors(url):
    co = cohere.ClientV2(api_key="unused", base_url=url)
    out = co.rerank(model=SHIPPED, query=QUERY, documents=DOCS, max_tokens_per_doc=512, priority=1)
    assert [r.index for r in out.results][0] == 1 and len(out.results) == 3
    with pytest.raises(cohere.errors.NotFoundError) as not_found:
        co.rerank(model="rerank-v3.5", query=QUERY, documents=DOCS)
    assert "unknown reranker 'rerank-v3.5'" in not_found.value.body["message"] and SHIPPED in not_found.value.body["message"]
    with pytest.raises(cohere.errors.BadRequestError) as bad:
        co.rerank(model=SHIPPED, query=QUERY, documents=DOCS, top_n=0)
    assert bad.value.body == {"message": "top_n must be between 1 and 200, not 0"}
    with pytest.raises(cohere.errors.BadRequestError) as fused:
        co.rerank(model=fused_name(SHIPPED, _shipped_fuse_weight()), query=QUERY, documents=DOCS)
    assert f"send model '{SHIPPED}'" in fused.value.body["message"]


def test_langchain_cohere_rerank_sends_nulls_and_works(url):
    from langchain_cohere import CohereRerank

    reranker = CohereRerank(model=SHIPPED, base_url=url, cohere_api_key="unused")
    everything = reranker.rerank(DOCS, QUERY, top_n=None)  # top_n and max_tokens_per_doc go out as null
    assert [r["index"] for r in everything][0] == 1 and len(everything) == 3


def test_jina_and_the_default_model(url):
    jina = httpx.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": DOCS, "top_n": 1, "return_documents": True})
    out = jina.json()
    assert out["model"] == SHIPPED and out["results"][0]["document"] == {"text": DOCS[1]}  # the default scores alone
    assert out["usage"]["total_tokens"] > 0 and out["random_init"] is False and "warning" not in out


def test_a_request_that_waited_for_a_slot_gets_503_with_retry_after(play, monkeypatch):
    release, started = threading.Event(), threading.Event()
    real = rest.rerank

    def slow(playground, request):
        started.set()
        release.wait(30)
        return real(playground, request)

    monkeypatch.setattr(rest, "rerank", slow)
    app = FastAPI()
    add_rerank_route(app, play, api_key="", slots=1, wait_seconds=0.2)
    body = {"model": "17m", "query": QUERY, "documents": DOCS}
    with serving(app) as base:
        first = threading.Thread(target=lambda: httpx.post(f"{base}/v2/rerank", json=body, timeout=60))
        first.start()
        assert started.wait(30)
        busy = httpx.post(f"{base}/v2/rerank", json=body, timeout=60)
        release.set()
        first.join(60)
    assert busy.status_code == 503 and busy.headers["retry-after"] == str(rest.RETRY_AFTER_SECONDS)
    message = busy.json()["message"]
    assert "all 1 rerank slots stayed taken for the 0.2 s this request waited" in message and "over" not in message


def test_the_api_key_through_the_sdk(play):
    app = FastAPI()
    add_rerank_route(app, play, api_key="a-private-space")
    with serving(app) as base:
        ok = cohere.ClientV2(api_key="a-private-space", base_url=base).rerank(model="17m", query=QUERY, documents=DOCS)
        with pytest.raises(cohere.errors.UnauthorizedError) as wrong:
            cohere.ClientV2(api_key="guess", base_url=base).rerank(model="17m", query=QUERY, documents=DOCS)
        tei = httpx.post(f"{base}/rerank", json={"query": QUERY, "texts": DOCS})
    assert len(ok.results) == 3 and "the API key is wrong" in wrong.value.body["message"]
    assert tei.status_code == 401 and tei.headers["www-authenticate"] == "Bearer"


def test_the_routes_inside_the_gradio_app_with_openapi_and_docs(app_url):
    out = cohere.ClientV2(api_key="unused", base_url=app_url).rerank(model="17m", query=QUERY, documents=DOCS, top_n=1)
    assert len(out.results) == 1
    tei = httpx.post(f"{app_url}/rerank", json={"query": QUERY, "texts": DOCS}).json()
    assert sorted(r["index"] for r in tei) == [0, 1, 2]
    spec = httpx.get(f"{app_url}/openapi.json").json()
    assert {"/v1/rerank", "/v2/rerank", "/rerank"} <= set(spec["paths"])
    docs = httpx.get(f"{app_url}/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text
