"""The shipped model catalog: Hugging Face-style configs in ``fabless/data/models``.

``load_model("llama-3.1-70b")`` reads ``data/models/llama-3.1-70b.json``;
``load_model("path/to/config.json")`` reads your own file. Where each shipped
config comes from is in ``data/models/SOURCES.yaml`` (:func:`model_source`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from fabless.errors import FablessError, unknown_name_error
from fabless.workload.config import ModelConfig, load_config_file

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"


def model_names() -> list[str]:
    """Names of the shipped model configs, sorted."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def _sources() -> dict[str, Any]:
    raw = yaml.safe_load((MODELS_DIR / "SOURCES.yaml").read_text()) or {}
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def model_source(name: str) -> dict[str, Any]:
    """The source record of a shipped model (source, confidence, published figures, notes); {} if none."""
    return dict(_sources().get(name, {}))


def load_model(name_or_path: str | Path) -> ModelConfig:
    """A shipped model by name, or a ``config.json`` file by path."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".json") or path.is_file():
        return load_config_file(path)
    if text not in model_names():
        raise unknown_name_error("model", text, model_names())
    return load_config_file(MODELS_DIR / f"{text}.json", name=text)
