"""Labelled datasets by name: ``scifact`` (the bundled copy) or a BEIR folder, as every ``--beir``/``--labels`` flag takes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from train.tables import TrainDataError

if TYPE_CHECKING:
    from ettin.corpus import BeirDataset

__all__ = ["load_beir_spec"]


def load_beir_spec(spec: str, split: str) -> BeirDataset:
    """``scifact`` (the bundled copy) or a BEIR folder."""
    from ettin.corpus import DataFormatError, load_beir, scifact

    try:
        if spec.strip().lower() == "scifact":
            return scifact(split)
        if not Path(spec).is_dir():
            raise TrainDataError(f"{spec!r} is neither 'scifact' nor a BEIR folder")
        return load_beir(spec, split)
    except DataFormatError as exc:
        raise TrainDataError(str(exc)) from None
