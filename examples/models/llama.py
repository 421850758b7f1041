"""A Llama-style decoder written in plain PyTorch, for `fabless import` and `fabless estimate --graph`.

fabless runs this whole file as Python, then calls build() under torch.device("meta"), so the
layers below allocate no weights. The default shapes are Llama-3.1-8B's (the catalog's
llama-3.1-8b: hidden 4096, 32 layers, 32 query heads, 8 KV heads, SwiGLU MLP 14336 wide,
vocabulary 128256, RMSNorm, rotary positions, untied embeddings), so

    fabless estimate --graph examples/models/llama.py:build --system dgx-h100 ...

recognises it as a decoder and estimates it as it does the catalog model. Any argument of
build() can be given, e.g. `--graph "examples/models/llama.py:build(layers=2,seq=256)"`.
"""

import torch
import torch.nn.functional as F
from torch import nn


class Rotary(nn.Module):
    """Rotary position embedding: x * cos + swap_halves(x) * sin, with the sign of the first half of
    sin folded into the table, so each element costs one multiply-add and one multiply."""

    def __init__(self, head_dim: int, max_len: int, theta: float = 500000.0):
        super().__init__()
        inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        ang = torch.outer(torch.arange(max_len, dtype=torch.float32), inv)
        self.register_buffer("cos", torch.cat([ang.cos(), ang.cos()], dim=-1), persistent=False)
        self.register_buffer("sin", torch.cat([-ang.sin(), ang.sin()], dim=-1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, heads, seq, head_dim]
        seq, half = x.shape[-2], x.shape[-1] // 2
        swapped = torch.cat([x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos[:seq] + swapped * self.sin[:seq]


class Attention(nn.Module):
    """Grouped-query attention; ``fused``: one qkv projection (as serving engines and Megatron-LM
    run it) instead of three."""

    def __init__(self, hidden: int, heads: int, kv_heads: int, max_len: int, fused: bool = False):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.fused = fused
        if fused:
            self.qkv_proj = nn.Linear(hidden, (heads + 2 * kv_heads) * self.head_dim, bias=False)
        else:
            self.q_proj = nn.Linear(hidden, heads * self.head_dim, bias=False)
            self.k_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
            self.v_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(heads * self.head_dim, hidden, bias=False)
        self.rotary = Rotary(self.head_dim, max_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        d = self.head_dim
        if self.fused:
            q, k, v = self.qkv_proj(x).split([self.heads * d, self.kv_heads * d, self.kv_heads * d], dim=-1)
        else:
            q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        q = q.reshape(b, s, self.heads, d).transpose(1, 2)
        k = k.reshape(b, s, self.kv_heads, d).transpose(1, 2)
        v = v.reshape(b, s, self.kv_heads, d).transpose(1, 2)
        q, k = self.rotary(q), self.rotary(k)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.o_proj(out.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))


class MLP(nn.Module):
    """SwiGLU; ``fused``: one gate-and-up projection instead of two."""

    def __init__(self, hidden: int, width: int, fused: bool = False):
        super().__init__()
        self.fused = fused
        if fused:
            self.gate_up_proj = nn.Linear(hidden, 2 * width, bias=False)
        else:
            self.gate_proj = nn.Linear(hidden, width, bias=False)
            self.up_proj = nn.Linear(hidden, width, bias=False)
        self.down_proj = nn.Linear(width, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        else:
            gate, up = self.gate_proj(x), self.up_proj(x)
        return self.down_proj(F.silu(gate) * up)


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_heads: int, width: int, max_len: int, fused: bool = False):
        super().__init__()
        self.attn_norm = nn.RMSNorm(hidden, eps=1e-5)
        self.attn = Attention(hidden, heads, kv_heads, max_len, fused)
        self.mlp_norm = nn.RMSNorm(hidden, eps=1e-5)
        self.mlp = MLP(hidden, width, fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class Decoder(nn.Module):
    """Token ids [batch, seq] -> logits [batch, seq, vocab]."""

    def __init__(self, vocab: int, hidden: int, layers: int, heads: int, kv_heads: int, width: int, max_len: int,
                 fused: bool = False):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(Layer(hidden, heads, kv_heads, width, max_len, fused) for _ in range(layers))
        self.norm = nn.RMSNorm(hidden, eps=1e-5)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))


def build(layers: int = 32, batch: int = 1, seq: int = 512, hidden: int = 4096, heads: int = 32, kv_heads: int = 8,
          width: int = 14336, vocab: int = 128256, fused: bool = False):
    """(module, example_inputs): the decoder and a batch of token ids [batch, seq]. ``fused``: one
    qkv and one gate-and-up projection per layer, the matmul shapes fabless's catalog models run."""
    model = Decoder(vocab, hidden, layers, heads, kv_heads, width, max_len=seq, fused=fused)
    return model, (torch.zeros(batch, seq, dtype=torch.long),)
