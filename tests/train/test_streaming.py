"""Training data is read through ``datasets``, memory-mapped, never as a whole in-memory table; caps are seeded samples."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from train.fit import fit
from train.fit_config import FitConfig
from train.rows import load_training_table
from train.tables import TrainDataError


@pytest.fixture
def no_whole_table_reads(monkeypatch):
    """Every whole-file reader the loaders could fall back on raises."""
    import pandas

    import train.data.select
    import train.tables

    def refuse(*args, **kwargs):
        raise AssertionError("a whole table was read into memory")

    monkeypatch.setattr(pandas, "read_parquet", refuse)
    monkeypatch.setattr(pandas, "read_json", refuse)
    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(train.tables, "read_table", refuse)
    monkeypatch.setattr(train.data.select, "read_table", refuse)


def _rows(path, n: int, extra: bool = True):
    cols = {"query": [f"q{i % 7}" for i in range(n)], "document": [f"d{i}" for i in range(n)], "score": [float(i) for i in range(n)]}
    if extra:
        cols["unused"] = [b"x" * 64] * n
    pq.write_table(pa.table(cols), path, row_group_size=100)
    return path


def test_fit_loads_memory_mapped_rows_without_reading_the_whole_table(tmp_path, no_whole_table_reads):
    path = _rows(tmp_path / "train.parquet", 1000)
    rows = load_training_table(str(path))
    assert rows.num_rows == 1000 and rows.column_names == ["query", "document", "score"], "only the needed columns are read"
    assert rows.cache_files and all(f["filename"].endswith(".arrow") for f in rows.cache_files), "memory-mapped from disk"
    assert rows.features["score"].dtype == "float32"
    summary = fit(FitConfig(train=str(path), out=str(tmp_path / "o"), dry_run=True, eval_rows=10), show_progress=False)
    assert summary["memory_mapped"] and (summary["rows"], summary["eval_rows"]) == (990, 10)
    assert not (tmp_path / "o").exists(), "a dry run builds no model and writes nothing"


def test_mix_reads_local_sources_memory_mapped(tmp_path, no_whole_table_reads):
    from train.data.mix import SourceSpec, mix_sources

    path = _rows(tmp_path / "a.parquet", 300)
    table, counts = mix_sources([SourceSpec.parse(f"a={path}@40")], seed=5)
    assert counts == {"a": 40} and table.num_rows == 40


def test_max_rows_is_a_seeded_random_sample(tmp_path):
    path = _rows(tmp_path / "train.parquet", 2000, extra=False)

    def scores(seed: int) -> list[float]:
        return load_training_table(str(path), max_rows=50, seed=seed)["score"]

    first = scores(12)
    assert len(first) == 50 and first == sorted(first), "file order is kept"
    assert scores(12) == first, "the same seed gives the same rows"
    assert scores(13) != first, "another seed gives other rows"
    assert first != [float(i) for i in range(50)], "not the first rows"
    with pytest.raises(TrainDataError, match="missing column"):
        load_training_table(str(path), columns=("query", "document", "label"))
