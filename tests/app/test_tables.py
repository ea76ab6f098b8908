"""Tables for people: readable headers, no ``nan`` anywhere, one parameter count per model (the registry's), notes only
when there is something to note, and folder names a person can find. The browser's view is test_browser_tables.py."""

from __future__ import annotations

import math

import pytest

from demo.board.tables import ABLATION_TABLE, BLANK, EMBEDDER_TABLE, QUALITY_TABLE, SPEED_TABLE, board_table
from ettin import registry
from eval import leaderboard as lb


@pytest.fixture(scope="module")
def board():
    return lb.build_leaderboard()  # the committed results store: regenerated rows with NaN rerankers and sizes


def _shown(styler):
    import gradio as gr

    shown = gr.Dataframe(interactive=False).postprocess(styler)
    return shown.headers, shown.metadata["display_value"]


@pytest.mark.parametrize("name,columns", [("quality", QUALITY_TABLE), ("embedders", EMBEDDER_TABLE),
                                          ("speed", SPEED_TABLE), ("ablation", ABLATION_TABLE)])  # fmt: skip
def test_board_tables_show_words_not_raw_names_and_never_nan(board, name, columns):
    frame = getattr(board, name)
    frame = lb.ranked(frame, board.comparisons) if name in ("quality", "embedders") else frame
    headers, display = _shown(board_table(frame, columns, sort_by=None))
    assert not [h for h in headers if "_" in h or h in frame.columns]  # rerank_s, pairs_per_s, ndcg10_low …
    cells = [str(v) for row in display for v in row]
    assert len(cells) > 20 and not [c for c in cells if c.strip().lower() in ("nan", "none", "<na>")]
    if name == "speed":
        sizes = [row[headers.index("Ettin size")] for row in display]
        assert BLANK in sizes  # a non-Ettin model has no Ettin size


def test_one_parameter_count_per_model_the_registry_one(board):
    frames = [board.quality, board.speed, board.ablation, board.embedders]
    for size, meta in registry.RERANKERS.items():
        counts = {float(p) for f in frames for p in f.loc[f["size"] == size, "params"] if not math.isnan(float(p))}
        assert counts == {float(meta.total_parameters)}, size  # the post prints 401.0M in one table, 401.6M in another
    per_model = board.quality.groupby("model")["params"].nunique()
    assert (per_model <= 1).all()


def test_reproduce_names_a_first_stage_alone_without_nan(board):
    from demo.tabs.reproduce import _regenerated_commands

    frame = board.embedders.copy()
    frame["reranker"] = frame["reranker"].astype(object)
    frame.loc[frame["source"] == "regenerated", "reranker"] = math.nan
    text = _regenerated_commands(frame)
    assert "first stage alone" in text and "nan" not in text.replace("nanobeir", "")


def test_leaderboard_notes_only_when_there_is_something_to_note(tmp_path):
    from demo.board.store import BoardStore
    from demo.tabs.leaderboard import _select

    store = BoardStore(tmp_path)
    store.board.notes = []
    board = store.board
    filters = ([*lb.MAIN_FAMILIES, lb.OTHERS], 0, 5000, ["published", "regenerated"], board.quality["benchmark"][0],
               board.speed["hardware"][0], board.embedders["dataset"][0])  # fmt: skip
    assert "Notes" not in _select(store, *filters)["notes"]
    store.board.notes = ["2 result file(s) could not be read"]
    assert "Notes:\n- 2 result file(s) could not be read" in _select(store, *filters)["notes"]


def test_first_run_folders_are_shown_whole_not_by_their_last_name(tmp_path, monkeypatch):
    from demo.sources import firstrun

    monkeypatch.chdir(tmp_path)
    assert firstrun.shown_path(tmp_path / "models" / "17m") == "models/17m"
    cache = tmp_path.parent / "elsewhere-cache" / "models" / "17m"
    shown = firstrun.shown_path(cache)
    assert shown.endswith("elsewhere-cache/models/17m") and shown != "models/17m"


def test_gradio_complete_announcement_is_translated():
    import gradio as gr

    from demo import texts

    assert gr.I18n(**texts.GRADIO_TRANSLATIONS).translations_dict["en"]["common.complete"] == "Done"
