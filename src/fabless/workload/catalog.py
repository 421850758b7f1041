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
from fabless.loading import read_json
from fabless.workload.config import ModelConfig, load_config_file
from fabless.workload.imported import graph_model_config, is_graph_spec
from fabless.workload.recsys import RecsysConfig, is_recsys_raw, load_recsys_file

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"
#: the recommendation models (DLRM family): ``recsys/<name>.json``
RECSYS_DIR = MODELS_DIR / "recsys"


def model_names() -> list[str]:
    """Names of the shipped model configs, sorted."""
    return list(_json_names(MODELS_DIR, _stamp(MODELS_DIR)))


def _stamp(path: Path) -> tuple[int, int] | None:
    """(mtime in ns, size) of a file or folder, None if it cannot be read: part of the cache keys
    below, so that a file edited or a config added since is read again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=8)
def _json_names(folder: Path, stamp: tuple[int, int] | None) -> tuple[str, ...]:
    """The ``*.json`` stems of ``folder``, sorted; ``stamp`` (the folder's) only keys the cache."""
    return tuple(sorted(p.stem for p in folder.glob("*.json")))


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


def recsys_names() -> list[str]:
    """Names of the shipped recommendation models (``data/models/recsys``), sorted."""
    return list(_json_names(RECSYS_DIR, _stamp(RECSYS_DIR)))


@lru_cache(maxsize=64)
def _file_is_recsys(where: str, stamp: tuple[int, int]) -> bool:
    try:
        return is_recsys_raw(read_json(where))  # the size, depth and UTF-8 limits of every config read
    except FablessError:
        return False  # load_config_file says what is wrong


def is_recsys_model(name_or_path: str | Path) -> bool:
    """Whether a model name or config file is a recommendation model (DLRM family), which
    `fabless estimate` times with its own step model (:mod:`fabless.estimate.recsys`)."""
    text = str(name_or_path)
    if text in recsys_names():
        return True
    path = Path(text)
    if (text.endswith(".json") or path.is_file()) and (stamp := _stamp(path)) is not None:
        return _file_is_recsys(os.path.abspath(text), stamp)
    return False


@lru_cache(maxsize=64)
def _load_recsys(path: str, name: str | None, stamp: tuple[int, int]) -> RecsysConfig:
    return load_recsys_file(path, name=name)


def load_recsys(name_or_path: str | Path) -> RecsysConfig:
    """A shipped recommendation model by name (:func:`recsys_names`), or a config file by path."""
    text = str(name_or_path)
    names = recsys_names()
    if text in names:
        path, name = RECSYS_DIR / f"{text}.json", text
    else:
        path, name = Path(text), None
        if not (text.endswith(".json") or path.is_file()):
            raise unknown_name_error("recommendation model", text, names)
    stamp = _stamp(path)
    if stamp is None:
        return load_recsys_file(path, name=name)
    return _load_recsys(str(path), name, stamp)


def load_model(name_or_path: str | Path) -> ModelConfig:
    """A shipped model by name, or a ``config.json`` file by path. Each file is read once (the
    configs are frozen, so callers share them) and again only when its mtime or size changes.
    An imported PyTorch model (``FILE.py:FACTORY``) gives the config of the decoder it traces to
    (:func:`fabless.workload.imported.graph_model_config`; a one-line ``NotADecoder`` error if
    it is not one). A recommendation model (:func:`is_recsys_model`) is refused with one line:
    only `fabless estimate` and `fabless models` take it (:func:`load_recsys`)."""
    text = str(name_or_path)
    if is_graph_spec(text):
        return graph_model_config(text)
    if is_recsys_model(text):
        raise FablessError(f"'{text}' is a recommendation model (DLRM family): `fabless estimate` and "
                           "`fabless models show` take it; serve, fleet, tco and explore are for language models")
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
