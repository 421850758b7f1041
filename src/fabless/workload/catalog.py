"""The shipped model catalog: Hugging Face-style configs in ``fabless/data/models``.

``load_model("llama-3.1-70b")`` reads ``data/models/llama-3.1-70b.json``;
``load_model("path/to/config.json")`` reads your own file; ``load_model("model.py:build")``
traces a PyTorch decoder (:mod:`fabless.workload.imported`). Where each shipped
config comes from is in ``data/models/SOURCES.yaml`` (:func:`model_source`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from fabless.errors import FablessError, unknown_name_error
from fabless.workload.config import ModelConfig, load_config_file
from fabless.workload.imported import graph_model_config, is_graph_spec

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"


def model_names() -> list[str]:
    """Names of the shipped model configs, sorted."""
    return list(_model_names(_stamp(MODELS_DIR)))


def _stamp(path: Path) -> tuple[int, int] | None:
    """(mtime in ns, size) of a file or folder, None if it cannot be read: part of the cache keys
    below, so that a file edited or a config added since is read again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=4)
def _model_names(stamp: tuple[int, int] | None) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in MODELS_DIR.glob("*.json")))


@lru_cache(maxsize=64)
def _load(path: str, name: str | None, where: str, stamp: tuple[int, int]) -> ModelConfig:
    """One config file read (``where``: its absolute path and ``stamp``: its mtime and size,
    only keys: the same text read from another folder, or edited since, is read again)."""
    return load_config_file(path, name=name)


@lru_cache(maxsize=None)
def _sources() -> dict[str, Any]:
    raw = yaml.safe_load((MODELS_DIR / "SOURCES.yaml").read_text()) or {}
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def model_source(name: str) -> dict[str, Any]:
    """The source record of a shipped model (source, confidence, published figures, notes); {} if none."""
    return dict(_sources().get(name, {}))


def load_model(name_or_path: str | Path) -> ModelConfig:
    """A shipped model by name, or a ``config.json`` file by path. Each file is read once (the
    configs are frozen, so callers share them) and again only when its mtime or size changes.
    An imported PyTorch model (``FILE.py:FACTORY``) gives the config of the decoder it traces to
    (:func:`fabless.workload.imported.graph_model_config`; a one-line ``NotADecoder`` error if
    it is not one)."""
    text = str(name_or_path)
    if is_graph_spec(text):
        return graph_model_config(text)
    path = Path(text)
    if text.endswith(".json") or path.is_file():
        stamp = _stamp(path)
        if stamp is None:  # load_config_file says what is wrong
            return load_config_file(path)
        return _load(text, None, os.path.abspath(text), stamp)
    names = model_names()
    if text not in names:
        raise unknown_name_error("model", text, names)
    shipped = MODELS_DIR / f"{text}.json"
    stamp = _stamp(shipped)
    if stamp is None:
        return load_config_file(shipped, name=text)
    return _load(str(shipped), text, str(shipped), stamp)
