"""Files the YAML fuzzing does not reach (a trace CSV, an import target, a length CSV, a
calibration log): binary or wrong-kind files are one error line with exit 2."""

from __future__ import annotations

import pytest

from fabless.cli import main

SCN = "examples/scenarios/llama-70b-serving-dgx-h100.yaml"


@pytest.mark.parametrize("argv,msg", [
    (["serve", SCN, "--trace", "{bin}"], "not a UTF-8 text file"),
    (["serve", SCN, "--offline", "10", "--lengths", "{bin}"], "not a UTF-8 text file"),
    (["import", "{csv}:build"], "not a Python file"),
    (["calibrate", "{bin}", "--chip", "h100-sxm", "--out", "{out}"], "not a text file"),
])
def test_wrong_files_are_one_line(argv, msg, tmp_path, capsys):
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    text = tmp_path / "t.csv"
    text.write_text("a,b\n1,2\n")
    args = [a.format(bin=binary, csv=text, out=tmp_path / "o.yaml") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err
