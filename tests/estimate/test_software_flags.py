"""software.yaml's yes/no fields are read as booleans only: a string such as "no" or a number is a one-line error
naming the stack and the field, not a value read as true."""

import pytest

from fabless.errors import FablessError
from fabless.estimate import software
from fabless.estimate.software import software_stacks


@pytest.mark.parametrize("raw", ["no", "false", 0, 1, None])
def test_a_flag_that_is_not_true_or_false_is_an_error(raw):
    with pytest.raises(FablessError, match=r"software.yaml: maxtext\.remat_drops_dead_ops must be true or false"):
        software._flag("maxtext", {"remat_drops_dead_ops": {"value": raw, "source": "x"}}, "remat_drops_dead_ops", False)


def test_a_flag_reads_true_false_and_the_default():
    assert software._flag("s", {"k": {"value": True}}, "k", False) is True
    assert software._flag("s", {"k": False}, "k", True) is False
    assert software._flag("s", {}, "k", True) is True


def test_the_shipped_flags_are_what_the_file_says():
    # maxtext's compiled recompute skips dead operators (stop 48); megatron-bridge's eager checkpoint does not
    stacks = software_stacks()
    assert stacks["maxtext"].remat_drops_dead_ops is True
    assert stacks["megatron-bridge"].remat_drops_dead_ops is False
    assert stacks["torchtitan"].named_only is True
