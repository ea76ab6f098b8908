"""Every parameter of every documented API endpoint, sent what no browser sends (a wrong type, NaN, inf, null, a list,
a number out of range, an unknown choice): a clean one-line refusal that names the parameter, never a traceback, an
"unexpected error" or Gradio's "has not enabled verbose error reporting".

The endpoints and their parameters come from the served app's API description, so a new endpoint or parameter is sent
the same values without a change here (it only needs a good value below when it has no default).
"""

from __future__ import annotations

import json
import math
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client.exceptions import AppError

QUERY = "A deficiency of vitamin B12 increases blood levels of homocysteine."
GOOD = {"query": QUERY, "pasted": "one document\nanother document", "upload": None, "label": None,
        "query_id": None, "zip_file": None, "corpus": None, "queries": None, "qrels": None,
        "benchmark": None, "hardware": None, "dataset": None}  # fmt: skip
"""Good values of the parameters without a default (each call varies one parameter and sends these for the others)."""
ACCEPTED = {
    ("/load_documents", "pasted", "null"): "null: nothing pasted (then 'nothing to load', as no file is given either)",
    ("/load_documents", "upload", "null"): "null: no file (the pasted documents are loaded)",
    ("/leaderboard", "min_m", "null"): "null: no lower bound (an emptied box)",
    ("/leaderboard", "max_m", "null"): "null: no upper bound",
    ("/export", "min_m", "null"): "null: no lower bound",
    ("/export", "max_m", "null"): "null: no upper bound",
    ("/reload", "min_m", "null"): "null: no lower bound",
    ("/reload", "max_m", "null"): "null: no upper bound",
    **{(endpoint, name, "null"): "null: the first offered (the page fills the choices at load)"
       for endpoint in ("/leaderboard", "/reload") for name in ("benchmark", "hardware", "dataset")},
    ("/explore", "label", "null"): "null: no comparison chosen (there is none in this store)",
    ("/explore_query", "label", "null"): "null: no comparison chosen",
    ("/explore_query", "query_id", "null"): "null: no query chosen",
    ("/explore_query", "query_id", "unknown choice"): "no comparison chosen: nothing to look a query up in",
    ("/evaluate_preview", "zip_file", "null"): "null: no .zip (the bundled SciFact is previewed)",
    ("/evaluate_preview", "corpus", "null"): "null: no corpus file (the bundled SciFact is previewed)",
    ("/evaluate_preview", "queries", "null"): "null: no queries file (the bundled SciFact is previewed)",
    ("/evaluate_preview", "qrels", "null"): "null: no qrels file (the bundled SciFact is previewed)",
    ("/evaluate_preview", "hub_id", "null"): "null: no Hub id (the bundled SciFact is previewed)",
    ("/evaluate_preview", "mteb_task", "null"): "null: no MTEB task name (the bundled SciFact is previewed)",
    ("/evaluate_explore", "label", "null"): "null: no comparison chosen (nothing is explored)",
    ("/evaluate_explore", "label", "unknown choice"): "any text: the handler checks it against this session's results "
                                                      "(then 'no finished evaluation of yours yet')",
    **{(endpoint, name, case): why for endpoint in ("/evaluate_estimate", "/evaluate") for name, case, why in (
        ("sample", "null", "null: no sample, every judged query (an emptied box; then 'no dataset yet')"),
        ("seed", "null", "null: seed 0 (an emptied box; then 'no dataset yet')"),
        ("seed", "below range", "any whole number is a seed (random.Random takes negatives; then 'no dataset yet')"),
    )},
}
"""(endpoint, parameter, case) that are no error, and why: the call must then answer, or refuse as cleanly."""
UNCLEAN = ("Traceback", "unexpected error", "verbose error reporting", "ComponentProcessingError", '{"error": null}')


def _bad_values(param: dict) -> list[tuple[str, object]]:
    """(case, value) pairs that the parameter, by its component, must refuse."""
    component = param["component"].lower()
    cases: list[tuple[str, object]] = [("null", None), ("NaN", math.nan), ("inf", math.inf)]
    if component in ("slider", "number"):
        cases += [("string", "12"), ("bool", True), ("list", [1, 2]), ("below range", -(10**9))]
        if component == "slider":
            cases += [("above range", 10**9), ("fraction", 2.5)]
    elif component == "checkbox":
        cases += [("string", "false"), ("number", 0), ("list", [True])]
    elif component == "checkboxgroup":
        cases += [("string", "published"), ("number", 1), ("nested list", [["x"]]), ("unknown choice", ["no-such"])]
    elif component == "file":
        cases += [("number", 1), ("list", [1, 2])]
    else:  # textbox, dropdown, radio
        cases += [("number", 2.5), ("object", {"x": 1}), ("list", ["x", "y"])]
        if component in ("dropdown", "radio"):
            cases += [("unknown choice", "no-such-choice")]
    return cases


def _endpoints(client) -> dict[str, list[dict]]:
    return {name: info["parameters"] for name, info in client.view_api(print_info=False, return_format="dict")[
        "named_endpoints"].items()}  # fmt: skip


def _good(endpoint: str, param: dict):
    if param["parameter_name"] in GOOD:
        return GOOD[param["parameter_name"]]
    assert param["parameter_has_default"], f"{endpoint}: give {param['parameter_name']!r} a good value in GOOD"
    return param["parameter_default"]


@pytest.fixture(scope="module")
def api(app_url, make_client):
    """One client for the whole module (each call is refused before any work)."""
    return make_client(app_url)


def _call(app_url: str, endpoint: str, args: list) -> tuple[str, str]:
    """``(event, data)`` of a raw HTTP call (gradio_client will not send NaN or inf; a raw client can)."""
    body = json.dumps({"data": args})  # NaN and inf as JavaScript writes them, which Python's json reads
    started = httpx.post(f"{app_url}/gradio_api/call{endpoint}", content=body, timeout=30,
                         headers={"content-type": "application/json"})  # fmt: skip
    if started.status_code != 200:
        return "http", f"{started.status_code}: {started.text}"
    event_id = started.json()["event_id"]
    with httpx.stream("GET", f"{app_url}/gradio_api/call{endpoint}/{event_id}", timeout=60) as stream:
        event = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = line.split(":", 1)[1].strip()
                return event, (json.loads(data) if data.startswith('"') else data)
    return "closed", ""


def _refusal(app_url: str, endpoint: str, params: list[dict], index: int, value) -> str | None:
    """The message of the refusal of ``value`` as parameter ``index`` (the others good), ``None`` when it answered."""
    args = [_good(endpoint, p) for p in params]
    args[index] = value
    event, data = _call(app_url, endpoint, args)
    return None if event == "complete" else f"[{event}] {data}"


def test_every_parameter_of_every_endpoint_refuses_what_no_browser_sends(api, app_url):
    endpoints = _endpoints(api)
    assert {"/search", "/estimate", "/compare", "/leaderboard", "/reload", "/export"} <= set(endpoints)
    cases = [(endpoint, index, param["parameter_name"], case, value) for endpoint, params in endpoints.items()
             for index, param in enumerate(params) for case, value in _bad_values(param)]  # fmt: skip
    with ThreadPoolExecutor(4) as pool:  # each is refused before any work: cheap, and the queue takes four at once
        messages = list(pool.map(lambda c: _refusal(app_url, c[0], endpoints[c[0]], c[1], c[4]), cases))
    problems = []
    for (endpoint, _, name, case, value), message in zip(cases, messages):
        accepted = (endpoint, name, case) in ACCEPTED
        if message is None:
            if not accepted:
                problems.append(f"{endpoint} {name}={value!r} ({case}): answered instead of refusing")
        elif any(bad in message for bad in UNCLEAN):
            problems.append(f"{endpoint} {name}={value!r} ({case}): unclean: {message[:160]}")
        elif not accepted and not re.search(rf"\b{re.escape(name)}\b", message):
            problems.append(f"{endpoint} {name}={value!r} ({case}): does not name {name!r}: {message[:160]}")
    assert len(cases) > 200 and not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("endpoint", "args", "message"),
    [
        ("/search", {"k": 2.5}, r"^k: K \(first-stage depth\) must be a whole number between 1 and 200, not 2.5"),
        ("/search", {"top_n": "5"}, r"^top_n: the number of results must be a whole number between 1 and 50, not str"),
        ("/estimate", {"k": None}, r"^k: .* between 1 and 200, not NoneType"),
        ("/search", {"normalise": "false"}, r"^normalise: .* must be true or false, not 'false'"),
        ("/search", {"reranker": ["17m"]}, r"^reranker: the reranker must be one of 'none', '17m'.*, not a list"),
        ("/search", {"precision": "fp16"}, r"^precision: precision must be one of 'auto', 'bf16', 'fp32', not 'fp16'"),
        ("/leaderboard", {"min_m": "150"}, r"^min_m: .* must be a finite number of 0 or more .*, not '150'"),
        ("/leaderboard", {"benchmark": "no-such"}, r"^benchmark: the quality benchmark must be one of .*MTEB"),
        ("/leaderboard", {"sources": "published"}, r"^sources: the sources must be a list of 'published', 'regenerated'"),
        ("/compare", {"rerankers": ["17m", "no-such"]}, r"^rerankers: .* a list of '17m'.*; 'no-such' is not one of"),
    ],
)
def test_a_refusal_names_the_parameter_and_what_it_allows(api, endpoint, args, message):
    params = _endpoints(api)[endpoint]
    names = [p["parameter_name"] for p in params]
    values = {p["parameter_name"]: _good(endpoint, p) for p in params} | args
    with pytest.raises(AppError) as exc:
        api.predict(*[values[n] for n in names], api_name=endpoint)
    assert re.search(message, str(exc.value).replace("&#x27;", "'")), str(exc.value)


def test_every_input_of_every_endpoint_is_a_checked_component(replica_17m, app_results):
    """What the sweep above relies on, said by name: an endpoint input of Gradio's own components (which let NaN,
    lists or strings through) instead of :mod:`demo.tabs.components`' is listed here."""
    import app
    from demo.tabs.components import unchecked_inputs

    demo = app.build_app(models_dir=replica_17m.parent, results_dir=app_results, include_hub=False,
                         default_first_stage="bm25")  # fmt: skip
    assert unchecked_inputs(demo) == []
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"search", "estimate", "compare", "leaderboard", "export", "reload", "load_documents", "explore"} <= named
