"""Models the torch-import tests define themselves (imported only when torch is installed)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, h: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(h))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Layer(nn.Module):
    def __init__(self, h, heads, kv_heads, inter):
        super().__init__()
        self.heads, self.kv_heads, self.d = heads, kv_heads, h // heads
        self.attn_norm, self.mlp_norm = RMSNorm(h), RMSNorm(h)
        self.q = nn.Linear(h, heads * self.d, bias=False)
        self.k = nn.Linear(h, kv_heads * self.d, bias=False)
        self.v = nn.Linear(h, kv_heads * self.d, bias=False)
        self.o = nn.Linear(heads * self.d, h, bias=False)
        self.gate = nn.Linear(h, inter, bias=False)
        self.up = nn.Linear(h, inter, bias=False)
        self.down = nn.Linear(inter, h, bias=False)

    def forward(self, x, cos, sin):
        B, T, h = x.shape
        y = self.attn_norm(x)
        q = self.q(y).view(B, T, self.heads, self.d).transpose(1, 2)
        k = self.k(y).view(B, T, self.kv_heads, self.d).transpose(1, 2)
        v = self.v(y).view(B, T, self.kv_heads, self.d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, h))
        y = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


class TinyLlama(nn.Module):
    """A Llama-style decoder: RMSNorm, RoPE, grouped-query attention, SwiGLU, untied head."""

    def __init__(self, vocab=1000, h=256, layers=4, heads=8, kv_heads=2, inter=688, seq=128):
        super().__init__()
        self.embed = nn.Embedding(vocab, h)
        self.layers = nn.ModuleList(Layer(h, heads, kv_heads, inter) for _ in range(layers))
        self.norm = RMSNorm(h)
        self.lm_head = nn.Linear(h, vocab, bias=False)
        d = h // heads
        inv = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
        ang = torch.outer(torch.arange(seq).float(), inv)
        self.register_buffer("cos", torch.cat((ang, ang), -1).cos(), persistent=False)
        self.register_buffer("sin", torch.cat((ang, ang), -1).sin(), persistent=False)
        self.hf_config = {"model_type": "llama", "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": layers,
                          "num_attention_heads": heads, "num_key_value_heads": kv_heads, "intermediate_size": inter,
                          "max_position_embeddings": seq, "tie_word_embeddings": False}

    def forward(self, ids):
        T = ids.shape[1]
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, self.cos[:T], self.sin[:T])
        return self.lm_head(self.norm(x))


class SmallCNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, padding=1)
        self.b1 = nn.BatchNorm2d(32)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1, stride=2)
        self.b2 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        x = F.relu(self.b2(self.c2(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class DLRM(nn.Module):
    """A DLRM-style recommender: large sparse embedding tables, bottom and top MLPs, dot interaction."""

    def __init__(self, tables=(4_000_000, 1_000_000, 500_000), dim=64, dense_in=13):
        super().__init__()
        self.tables = nn.ModuleList(nn.EmbeddingBag(rows, dim, mode="sum") for rows in tables)
        self.bottom = nn.Sequential(nn.Linear(dense_in, 256), nn.ReLU(), nn.Linear(256, dim), nn.ReLU())
        n = len(tables) + 1
        self.top = nn.Sequential(nn.Linear(dim + n * (n - 1) // 2, 256), nn.ReLU(), nn.Linear(256, 1))
        self.n = n

    def forward(self, dense, indices, offsets):
        x = self.bottom(dense)
        feats = [x] + [t(indices[i], offsets[i]) for i, t in enumerate(self.tables)]
        z = torch.stack(feats, dim=1)  # [B, n, dim]
        inter = torch.bmm(z, z.transpose(1, 2))  # [B, n, n]
        iu = torch.triu_indices(self.n, self.n, offset=1)
        flat = inter[:, iu[0], iu[1]]
        return torch.sigmoid(self.top(torch.cat([x, flat], dim=1)))


class Unmappable(nn.Module):
    def forward(self, x):
        return torch.fft.fft(x).real + torch.special.bessel_j0(x)
