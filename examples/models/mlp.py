"""A small model for `fabless import examples/models/mlp.py:build` (the example in its --help).

fabless runs this whole file as Python (as `python mlp.py` would), then calls build() under
torch.device("meta"), so the layers below allocate no weights.
"""

import torch


def build():
    """(module, example_inputs): a two-layer MLP block on a batch of 8 x 2048 tokens."""
    model = torch.nn.Sequential(
        torch.nn.Linear(4096, 14336, bias=False),
        torch.nn.SiLU(),
        torch.nn.Linear(14336, 4096, bias=False),
    )
    return model, (torch.randn(8, 2048, 4096),)
