"""read_yaml refuses, in one line naming the file, what would otherwise exhaust memory, the
stack or the decoder: oversized files, deep nesting, alias bombs, non-UTF-8 bytes."""

from __future__ import annotations

import pytest

from fabless import bounds
from fabless.errors import FablessError
from fabless.loading import read_yaml


def _refused(path, word: str) -> str:
    with pytest.raises(FablessError) as info:
        read_yaml(path)
    msg = str(info.value)
    assert str(path) in msg and word in msg and "\n" not in msg
    return msg


def test_alias_bomb_is_refused(tmp_path):
    # 9 levels of 9 aliases expand to 9^9 (387M) strings from a dozen lines.
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    _refused(p, "aliases")


def test_a_few_shared_aliases_are_fine(tmp_path):
    # The shipped files share source strings through anchors; that must keep working.
    p = tmp_path / "ok.yaml"
    p.write_text("_src: &s {url: u, date: d}\na: {value: 1, source: *s}\nb: {value: 2, source: *s}\n")
    assert read_yaml(p)["b"]["source"] == {"url": "u", "date": "d"}


def test_deep_nesting_is_refused(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    _refused(p, "nested deeper")


def test_nesting_at_the_limit_is_read(tmp_path):
    p = tmp_path / "ok.yaml"
    depth = bounds.MAX_YAML_DEPTH - 1  # the top-level mapping is one level
    p.write_text("a: " + "[" * depth + "]" * depth + "\n")
    assert isinstance(read_yaml(p)["a"], list)


def test_non_utf8_file_is_refused(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    _refused(p, "UTF-8")


def test_oversized_file_is_refused_before_reading(tmp_path):
    p = tmp_path / "big.yaml"
    with open(p, "wb") as fh:  # sparse: no 16 MiB written
        fh.truncate(bounds.MAX_YAML_BYTES + 1)
    _refused(p, "bytes")


def test_byte_order_mark_is_accepted(tmp_path):
    p = tmp_path / "bom.yaml"
    p.write_bytes("\ufeffname: x\n".encode())
    assert read_yaml(p) == {"name": "x"}
