"""from_torch on models the tests define: a small transformer, a CNN and a recommender."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from fabless.errors import FablessError  # noqa: E402
from fabless.workload import build_forward_graph, from_torch, parse_config  # noqa: E402

from .torch_models import DLRM, SmallCNN, TinyLlama, Unmappable  # noqa: E402


def _meta(fn):
    with torch.device("meta"):
        return fn()


def test_transformer_flops_match_the_builder():
    B, S = 2, 128
    model = _meta(lambda: TinyLlama(seq=S))
    ids = _meta(lambda: torch.randint(0, 1000, (B, S)))
    g = from_torch(model, (ids,), on_unknown="error")
    cfg = parse_config(model.hf_config, name="tiny")
    ref = build_forward_graph(cfg, batch=B, seq_len=S)
    assert g.flops == pytest.approx(ref.flops, rel=0.01)
    assert g.total("flops", kind="matmul") == pytest.approx(ref.total("flops", kind="matmul"), rel=1e-9)
    assert g.total("flops", kind="attention") == pytest.approx(ref.total("flops", kind="attention"), rel=1e-9)
    # parameters: the graph counts each weight once, as the module does
    assert g.params == sum(p.numel() for p in model.parameters()) == cfg.params_total
    # nothing was materialised
    assert all(p.is_meta for p in model.parameters())


def test_transformer_matmul_flops_by_hand():
    B, S, h, L, V, inter, kvh, d = 1, 64, 256, 4, 1000, 688, 2, 32
    model = _meta(lambda: TinyLlama(seq=S))
    g = from_torch(model, (_meta(lambda: torch.randint(0, V, (B, S))),))
    T = B * S
    per_layer = 2 * T * h * (h + 2 * kvh * d + h) + 2 * T * 3 * h * inter
    assert g.total("flops", kind="matmul") == L * per_layer + 2 * T * h * V


def test_cnn():
    model = _meta(lambda: SmallCNN().eval())
    x = _meta(lambda: torch.randn(8, 3, 32, 32))
    g = from_torch(model, (x,), on_unknown="error")
    conv1 = 2 * 8 * 32 * 32 * 32 * 3 * 9  # out pixels x out channels x (in channels x 3x3) x 2
    conv2 = 2 * 8 * 16 * 16 * 64 * 32 * 9
    assert g.total("flops", kind="conv") == conv1 + conv2
    assert g.total("flops", kind="matmul") == 2 * 8 * 64 * 10
    assert g.params == sum(p.numel() for p in model.parameters())
    assert g.tokens == 8


def test_recommender_embedding_tables_dominate_parameters_not_flops():
    B, lookups_per_bag, dim = 512, 20, 64
    tables = (4_000_000, 1_000_000, 500_000)
    model = _meta(lambda: DLRM(tables=tables, dim=dim))
    dense = _meta(lambda: torch.randn(B, 13))
    idx = tuple(_meta(lambda: torch.randint(0, 1000, (B * lookups_per_bag,))) for _ in tables)
    off = tuple(_meta(lambda: torch.arange(0, B * lookups_per_bag, lookups_per_bag)) for _ in tables)
    g = from_torch(model, (dense, idx, off), on_unknown="error")
    emb = [op for _, op in g.items() if op.kind == "embedding"]
    assert len(emb) == 3
    assert sum(op.params for op in emb) == sum(tables) * dim
    assert g.params == sum(p.numel() for p in model.parameters())
    # each bag reads 20 rows of 64 values: bytes are the lookups, not the 5.5M-row tables
    for op in emb:
        assert op.bag == lookups_per_bag
        assert op.bytes_read == pytest.approx(B * lookups_per_bag * (8 + dim * 4))
    # the embedding bytes dwarf the MLP FLOPs per byte: arithmetic intensity below 1
    assert sum(op.flops for op in emb) / sum(op.bytes for op in emb) < 1


def test_unknown_operator_named_in_error_or_warned():
    model, x = Unmappable(), torch.randn(4, 8)
    with pytest.raises(FablessError) as err:
        from_torch(model, (x,), on_unknown="error")
    msg = str(err.value)
    assert "\n" not in msg and "fft" in msg and "bessel_j0" in msg
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = from_torch(model, (x,), on_unknown="warn")
    assert any("fft" in str(w.message) for w in caught)
    assert g.breakdown()["opaque"]["count"] >= 2
    assert "aten.special_bessel_j0.default" in g.info()["unmapped_ops"]


def test_untraceable_model_is_a_one_line_error():
    class Bad(torch.nn.Module):
        def forward(self, x):
            return x.sum().item() * torch.ones(int(x.sum().item()))

    with pytest.raises(FablessError) as err:
        from_torch(Bad(), (torch.randn(3),))
    assert "\n" not in str(err.value)
