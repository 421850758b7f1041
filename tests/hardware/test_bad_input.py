"""Bad chip and system files each give one line naming the file and field, and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import assert_one_line_error

H100 = Path(__file__).resolve().parents[2] / "src/fabless/data/chips/h100-sxm.yaml"


def _h100_raw() -> dict:
    return yaml.safe_load(H100.read_text())


def _write(tmp_path, data, name="my-chip.yaml") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(path)


def test_valid_copy_of_a_preset_validates(cli, tmp_path):
    res = cli("chips", "validate", _write(tmp_path, _h100_raw()), "--json")
    assert res.code == 0, res.err
    assert res.json()["valid"] is True


def test_unknown_field_suggests_the_right_one(cli, tmp_path):
    raw = _h100_raw()
    raw["memory"]["hbm"]["capacity_gibb"] = raw["memory"]["hbm"].pop("capacity_gib")
    res = cli("chips", "validate", _write(tmp_path, raw))
    assert_one_line_error(res, "my-chip.yaml", "memory.hbm.capacity_gibb", "capacity_gib")


def test_wrong_type(cli, tmp_path):
    raw = _h100_raw()
    raw["compute"]["cores"] = "many"
    res = cli("chips", "validate", _write(tmp_path, raw))
    assert_one_line_error(res, "compute.cores")


@pytest.mark.parametrize("value", [-80, 0])
def test_negative_or_zero_capacity(cli, tmp_path, value):
    raw = _h100_raw()
    raw["memory"]["hbm"].pop("capacity_gib")  # the H100 file states GiB
    raw["memory"]["hbm"]["capacity_gb"] = value
    res = cli("chips", "validate", _write(tmp_path, raw))
    assert_one_line_error(res, "memory.hbm.capacity_gb", "greater than 0")


def test_unit_written_into_a_number_field(cli, tmp_path):
    raw = _h100_raw()
    raw["physical"]["tdp_w"] = "700W"
    res = cli("chips", "validate", _write(tmp_path, raw))
    assert_one_line_error(res, "physical.tdp_w", "700W", "plain number")


def test_two_capacities_is_ambiguous(cli, tmp_path):
    raw = _h100_raw()
    raw["memory"]["hbm"]["capacity_gb"] = 80  # beside the file's capacity_gib
    res = cli("chips", "validate", _write(tmp_path, raw))
    assert_one_line_error(res, "capacity_gb", "capacity_gib")


def test_unknown_preset_suggests_close_names(cli):
    res = cli("chips", "show", "h100-sx")
    assert_one_line_error(res, "unknown chip 'h100-sx'", "h100-sxm")


def test_yaml_syntax_error_names_line(cli, tmp_path):
    res = cli("chips", "validate", _write(tmp_path, "name: x\ncompute: [1, 2\nclock: 3\n"))
    assert_one_line_error(res, "my-chip.yaml:", "YAML syntax error")


def test_missing_file(cli, tmp_path):
    res = cli("chips", "validate", str(tmp_path / "nope.yaml"))
    assert_one_line_error(res, "nope.yaml", "no such file")


def test_torus_dims_must_multiply_to_size(cli, tmp_path):
    system = {
        "display_name": "bad torus", "chip": "h100-sxm", "chips": 64, "chips_per_node": 4,
        "scale_up": {"size": 64, "topology": "torus", "torus_dims": [4, 4, 2], "latency_us": 2},
    }
    res = cli("systems", "validate", _write(tmp_path, system, "sys.yaml"))
    assert_one_line_error(res, "sys.yaml", "torus_dims", "32")


def test_system_with_unknown_chip(cli, tmp_path):
    system = {
        "display_name": "x", "chip": "h100-sxn", "chips": 8, "chips_per_node": 8,
        "scale_up": {"size": 8, "topology": "switch", "latency_us": 2},
    }
    res = cli("systems", "validate", _write(tmp_path, system, "sys.yaml"))
    assert_one_line_error(res, "unknown chip 'h100-sxn'", "h100-sxm")
