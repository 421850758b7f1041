"""Collective communication on a system's scale-up domain and scale-out network.

Every algorithm is an alpha-beta model a reader can check by hand::

    time = launch + steps x step_latency + bytes_on_busiest_link / achievable_bandwidth

* ``launch`` is a fixed cost per call; ``step_latency`` is the fabric's hop
  latency (from the system preset) plus a protocol's software cost per step.
* ``bytes_on_busiest_link`` is the algorithm's volume: a ring all-reduce of S
  bytes over n chips moves ``2 (n-1)/n x S`` through each chip, an all-gather or
  reduce-scatter ``(n-1)/n x S``; NVLink SHARP (NVLS) ``(1 + 1/n) x S``.
* ``achievable_bandwidth`` is the link's one-direction bandwidth times an
  efficiency per fabric and protocol.

Like NCCL, :func:`collective_time` evaluates every algorithm that applies (ring
and LL/Simple protocols, NVLS where the switch reduces, one-shot direct
exchange on fully-connected meshes, bidirectional rings along each torus
dimension, and, for groups that span scale-up domains, flat rings, trees and
hierarchical intra-inter-intra schemes) and keeps the fastest for each size.
Sizes may be numpy arrays; every formula is vectorised.

Bus bandwidth follows nccl-tests: ``busbw = algbw x 2(n-1)/n`` for all-reduce,
``x (n-1)/n`` for all-gather, reduce-scatter and all-to-all, ``x 1`` for
send/recv, where ``algbw = bytes / time`` and ``bytes`` is nccl-tests' size
(the per-chip buffer; for all-gather the gathered output, for reduce-scatter
the input, for all-to-all the whole send buffer).

Parameters live in ``fabless/data/perf/collectives.yaml`` with their sources;
docs/collectives.md gives the formulas and the measured error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fabless.errors import FablessError, unknown_name_error
from fabless.hardware.schema import System
from fabless.loading import read_yaml
from fabless.provenance import Source, split_provenance

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
Kind = Literal["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"]
PLACEMENTS = ("auto", "packed", "spread")

_ALIASES = {
    "allreduce": "all_reduce", "ar": "all_reduce",
    "allgather": "all_gather", "ag": "all_gather",
    "reducescatter": "reduce_scatter", "rs": "reduce_scatter",
    "alltoall": "all_to_all", "a2a": "all_to_all",
    "p2p": "send_recv", "sendrecv": "send_recv", "send": "send_recv",
}

_PARAMS_PATH = Path(str(resources.files("fabless") / "data" / "perf" / "collectives.yaml"))


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class FabricParams:
    """Efficiency and per-step software cost of one fabric (scale-up or scale-out)."""

    bw_efficiency: float
    simple_step_overhead_s: float
    ll_step_overhead_s: float


@dataclass(frozen=True)
class CollectiveParams:
    """Everything in collectives.yaml, as plain numbers, plus their sources."""

    launch_latency_s: float
    ll_bw_fraction: float
    scale_up: FabricParams
    scale_out: FabricParams
    nvls_bw_efficiency: float
    nvls_latency_s: float
    sources: dict[str, Source] = field(default_factory=dict, compare=False, hash=False)

    def replace(self, **changes: float) -> CollectiveParams:
        """A copy with some values changed; nested names use '__' (``scale_up__bw_efficiency``)."""
        flat = self.flat()
        for key, value in changes.items():
            if key not in flat:
                raise FablessError(f"unknown collective parameter '{key}'; known: {', '.join(flat)}")
            flat[key] = float(value)
        return CollectiveParams(
            launch_latency_s=flat["launch_latency_s"],
            ll_bw_fraction=flat["ll_bw_fraction"],
            scale_up=FabricParams(flat["scale_up__bw_efficiency"], flat["scale_up__simple_step_overhead_s"], flat["scale_up__ll_step_overhead_s"]),
            scale_out=FabricParams(flat["scale_out__bw_efficiency"], flat["scale_out__simple_step_overhead_s"], flat["scale_out__ll_step_overhead_s"]),
            nvls_bw_efficiency=flat["nvls__bw_efficiency"],
            nvls_latency_s=flat["nvls__latency_s"],
            sources=self.sources,
        )

    def flat(self) -> dict[str, float]:
        out = {"launch_latency_s": self.launch_latency_s, "ll_bw_fraction": self.ll_bw_fraction}
        for name in ("scale_up", "scale_out"):
            fab = getattr(self, name)
            out[f"{name}__bw_efficiency"] = fab.bw_efficiency
            out[f"{name}__simple_step_overhead_s"] = fab.simple_step_overhead_s
            out[f"{name}__ll_step_overhead_s"] = fab.ll_step_overhead_s
        out["nvls__bw_efficiency"] = self.nvls_bw_efficiency
        out["nvls__latency_s"] = self.nvls_latency_s
        return out


def _number(plain: dict, path: str, origin: str, *, fraction: bool = False) -> float:
    node: Any = plain
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise FablessError(f"{origin}: missing required field '{path}'")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise FablessError(f"{origin}: field '{path}' must be a number, got {node!r}")
    value = float(node)
    if value < 0 or (fraction and not 0 < value <= 1):
        raise FablessError(f"{origin}: field '{path}' must be {'in (0, 1]' if fraction else '>= 0'}, got {value}")
    return value


@lru_cache(maxsize=8)
def _load_params_cached(path: str) -> CollectiveParams:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise FablessError(f"{path}: expected a mapping of fields at the top level")
    raw = {k: v for k, v in raw.items() if not str(k).startswith("_")}
    plain, sources = split_provenance(raw)

    def fabric(name: str) -> FabricParams:
        return FabricParams(
            _number(plain, f"{name}.bw_efficiency", path, fraction=True),
            _number(plain, f"{name}.simple_step_overhead_s", path),
            _number(plain, f"{name}.ll_step_overhead_s", path),
        )

    return CollectiveParams(
        launch_latency_s=_number(plain, "launch_latency_s", path),
        ll_bw_fraction=_number(plain, "ll_bw_fraction", path, fraction=True),
        scale_up=fabric("scale_up"),
        scale_out=fabric("scale_out"),
        nvls_bw_efficiency=_number(plain, "nvls.bw_efficiency", path, fraction=True),
        nvls_latency_s=_number(plain, "nvls.latency_s", path),
        sources={k: Source(**v) for k, v in sources.items()},
    )


def load_params(path: str | Path | None = None) -> CollectiveParams:
    """The shipped parameters, or a user's file with the same fields."""
    return _load_params_cached(str(path or _PARAMS_PATH))


def params_for(system: System, base: CollectiveParams | None = None) -> CollectiveParams:
    """The parameters for collectives on ``system``: ``base`` (the shipped ones by default)
    with the system file's own ``calibration.collectives`` values on top, if it has any."""
    p = base or load_params()
    cal = system.calibration.collectives if system.calibration is not None else None
    return p.replace(**cal.flat()) if cal is not None else p


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CollectiveTime:
    """Predicted time of one collective; array fields when ``bytes`` was an array."""

    kind: str
    group_size: int
    bytes: Any
    time_s: Any
    algbw_bytes_per_s: Any
    busbw_bytes_per_s: Any
    algorithm: Any  # e.g. "ring/simple", "nvls", "hierarchical(ring/simple)"
    bound: Any  # "latency" or "bandwidth": which term of the chosen algorithm is larger
    span: str  # "scale_up", "scale_out" or "both"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "group_size": self.group_size, "bytes": self.bytes,
            "time_s": self.time_s, "algbw_gbps": _div(self.algbw_bytes_per_s, 1e9),
            "busbw_gbps": _div(self.busbw_bytes_per_s, 1e9), "algorithm": self.algorithm,
            "bound": self.bound, "span": self.span,
        }


def _div(x: Any, d: float) -> Any:
    return x / d if not isinstance(x, list) else [v / d for v in x]


def bus_factor(kind: str, n: int) -> float:
    """nccl-tests' busbw / algbw: 2(n-1)/n for all-reduce, (n-1)/n for all-gather,
    reduce-scatter and all-to-all, 1 for send/recv."""
    kind = normalize_kind(kind)
    if kind == "send_recv":
        return 1.0
    if n <= 1:
        return 0.0
    return 2 * (n - 1) / n if kind == "all_reduce" else (n - 1) / n


def normalize_kind(kind: str) -> str:
    k = str(kind).lower().replace("-", "_")
    k = _ALIASES.get(k.replace("_", ""), k)
    if k not in KINDS:
        raise unknown_name_error("collective", str(kind), list(KINDS))
    return k


# ----------------------------------------------------------------------------- fabrics


@dataclass(frozen=True)
class _Dim:
    """One torus dimension used by a group: its size, and whether it closes into a ring."""

    size: int
    wrap: bool


@dataclass(frozen=True)
class _Fabric:
    """A group's view of one fabric: topology, per-chip bandwidths, latencies."""

    name: str  # "scale_up" | "scale_out"
    topology: str  # switch | torus | fully_connected
    group: int  # chips of the group on this fabric
    chip_bytes_per_s: float  # one direction, all links of one chip
    link_bytes_per_s: float  # one direction, one link (torus, mesh) or = chip (switch)
    hop_latency_s: float
    params: FabricParams
    dims: tuple[_Dim, ...] = ()
    in_network_reduction: bool = False

    def step_s(self, protocol: str) -> float:
        extra = self.params.simple_step_overhead_s if protocol == "simple" else self.params.ll_step_overhead_s
        return self.hop_latency_s + extra

    def eff(self, protocol: str, ll_fraction: float) -> float:
        e = self.params.bw_efficiency
        return e * ll_fraction if protocol == "ll" else e


def _torus_dims(group: int, dims: list[int]) -> tuple[_Dim, ...]:
    """The sub-torus a packed group of ``group`` chips occupies: whole dimensions
    first (they keep their wrap-around links), then part of the next one (a line)."""
    out: list[_Dim] = []
    remaining = group
    for d in dims:
        if remaining == 1:
            break
        if d == 1:
            continue
        if remaining >= d:
            if remaining % d:
                break
            out.append(_Dim(d, True))
            remaining //= d
        else:
            if d % remaining:
                break
            out.append(_Dim(remaining, False))
            remaining = 1
    if remaining != 1:
        raise FablessError(f"a group of {group} chips does not tile the {'x'.join(map(str, dims))} torus; use a group size that is a product of its dimensions")
    return tuple(out)


def _scale_up_fabric(system: System, group: int, params: CollectiveParams) -> _Fabric:
    su = system.scale_up
    link = system.chip.links.scale_up
    if link is None:
        raise FablessError(f"system '{system.name}': chip '{system.chip.name}' has no scale-up links (chip.links.scale_up)")
    chip_bw = link.unidir_bytes_per_s
    hop = su.latency_us * 1e-6
    if su.topology in ("torus", "ring"):
        full = list(su.torus_dims) if su.topology == "torus" else [su.size]
        n_dims = sum(1 for d in full if d > 1) or 1
        link_bw = chip_bw / (2 * n_dims)  # two links (+ and -) per dimension
        return _Fabric("scale_up", "torus", group, chip_bw, link_bw, hop, params.scale_up, _torus_dims(group, full))
    if su.topology == "fully_connected":
        peers = max(su.size - 1, 1)
        return _Fabric("scale_up", "fully_connected", group, chip_bw, chip_bw / peers, hop, params.scale_up)
    return _Fabric("scale_up", "switch", group, chip_bw, chip_bw, hop, params.scale_up,
                   in_network_reduction=su.in_network_reduction)


def _scale_out_fabric(system: System, group: int, params: CollectiveParams) -> _Fabric:
    bw = system.scale_out_bytes_per_s
    if system.scale_out is None or bw is None:
        raise FablessError(
            f"system '{system.name}' has no scale-out network (scale_out, or the chip's links.scale_out); "
            f"a group can span at most {system.scale_up.size} chips (one scale-up domain)"
        )
    return _Fabric("scale_out", "switch", group, bw, bw, system.scale_out.latency_us * 1e-6, params.scale_out)


# ----------------------------------------------------------------------------- one fabric
# Each function returns a list of candidates (name, latency_s, bandwidth_s) where
# latency_s is a float and bandwidth_s an array over sizes; launch is added later.

Cand = tuple[str, float, np.ndarray]
_PROTOCOLS = ("simple", "ll")


def _ring_steps_and_volume(kind: str, n: int) -> tuple[int, float]:
    """(steps, bytes through each chip per byte of buffer) of a ring."""
    if kind == "all_reduce":
        return 2 * (n - 1), 2 * (n - 1) / n
    return n - 1, (n - 1) / n  # all_gather / reduce_scatter


def _switch(kind: str, S: np.ndarray, f: _Fabric, p: CollectiveParams) -> list[Cand]:
    n = f.group
    out: list[Cand] = []
    if kind == "send_recv":
        return [(f"p2p/{pr}", f.step_s(pr), S / (f.eff(pr, p.ll_bw_fraction) * f.link_bytes_per_s)) for pr in _PROTOCOLS]
    if kind == "all_to_all":
        # every chip sends S/n to each of the n-1 others at once, through its own port
        return [(f"direct/{pr}", f.step_s(pr), (n - 1) / n * S / (f.eff(pr, p.ll_bw_fraction) * f.chip_bytes_per_s)) for pr in _PROTOCOLS]
    steps, vol = _ring_steps_and_volume(kind, n)
    for pr in _PROTOCOLS:
        out.append((f"ring/{pr}", steps * f.step_s(pr), vol * S / (f.eff(pr, p.ll_bw_fraction) * f.chip_bytes_per_s)))
    if kind == "all_reduce" and f.in_network_reduction and n > 2:
        # NVLS: each chip sends S (multimem reduce-loads of every shard) + S/n (its reduced shard
        # multicast back), and receives S/n + S: (1 + 1/n) S each way.
        out.append(("nvls", p.nvls_latency_s + 2 * f.step_s("simple"),
                    (1 + 1 / n) * S / (p.nvls_bw_efficiency * f.chip_bytes_per_s)))
    return out


def _fully_connected(kind: str, S: np.ndarray, f: _Fabric, p: CollectiveParams) -> list[Cand]:
    """One-shot direct exchange over the g-1 links to the other members."""
    n = f.group
    out: list[Cand] = []
    for pr in _PROTOCOLS:
        bw = f.eff(pr, p.ll_bw_fraction) * f.link_bytes_per_s  # one link to each peer
        if kind == "send_recv":
            out.append((f"p2p/{pr}", f.step_s(pr), S / bw))
        elif kind == "all_reduce":  # direct reduce-scatter then direct all-gather
            out.append((f"direct/{pr}", 2 * f.step_s(pr), 2 * (S / n) / bw))
        else:  # all_gather, reduce_scatter, all_to_all: S/n to or from each peer, all links at once
            out.append((f"direct/{pr}", f.step_s(pr), (S / n) / bw))
    return out


def _ring_mean_distance(d: int, wrap: bool) -> float:
    """Mean hop count from one chip to all d chips (itself included) of a ring or line."""
    if wrap:
        return sum(min(j, d - j) for j in range(d)) / d
    return (d * d - 1) / (3 * d)  # mean |i - j| over a line, averaged over the source too


def _torus(kind: str, S: np.ndarray, f: _Fabric, p: CollectiveParams) -> list[Cand]:
    """Bidirectional rings along each torus dimension (a line where the group does not
    close the dimension). All-reduce = reduce-scatter then all-gather; the buffer is cut
    into one share per dimension and the shares visit the dimensions in rotated order,
    so every dimension's links work at once."""
    dims = f.dims
    out: list[Cand] = []
    b = f.link_bytes_per_s
    for pr in _PROTOCOLS:
        e = f.eff(pr, p.ll_bw_fraction)
        ring_bw = [e * b * (2 if d.wrap else 1) for d in dims]  # a line carries a ring at one link's rate
        if kind == "send_recv":
            out.append((f"p2p/{pr}", f.step_s(pr), S / (e * b)))
            continue
        if kind == "all_to_all":
            hops = sum(_ring_mean_distance(d.size, d.wrap) for d in dims)
            links = sum(2 * (1 if d.wrap else (d.size - 1) / d.size) for d in dims)
            out.append((f"torus-direct/{pr}", sum(d.size - 1 for d in dims) * f.step_s(pr), S * hops / (links * e * b)))
            continue
        k = len(dims)
        worst = 0.0
        for r in range(k):  # share r visits dims r, r+1, ...
            order = [(r + i) % k for i in range(k)]
            t, remaining = 0.0, 1.0 / k
            for i in order:
                d = dims[i].size
                t += (d - 1) / d * remaining / ring_bw[i]
                remaining /= d
            worst = max(worst, t)
        phases = 2 if kind == "all_reduce" else 1
        steps = phases * sum(d.size - 1 for d in dims)
        out.append((f"torus-rings/{pr}", steps * f.step_s(pr), phases * worst * S))
    return out


def _one_fabric(kind: str, S: np.ndarray, f: _Fabric, p: CollectiveParams) -> list[Cand]:
    if f.group <= 1:
        return [("none", 0.0, np.zeros_like(S))]
    if f.topology == "torus":
        return _torus(kind, S, f, p)
    if f.topology == "fully_connected":
        return _fully_connected(kind, S, f, p)
    return _switch(kind, S, f, p)


def _best(cands: list[Cand], S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fastest time per size over candidates, and the index of the winner."""
    times = np.stack([lat + bw for _, lat, bw in cands])
    return times.min(axis=0), times.argmin(axis=0)


# ----------------------------------------------------------------------------- spanning groups


def _tree_inter(kind: str, S: np.ndarray, f: _Fabric, p: CollectiveParams) -> list[Cand]:
    """Double binary tree over k domains (NCCL's tree): 2 log2(k) steps, each chip
    sends and receives the buffer once in the reduce and once in the broadcast."""
    if kind != "all_reduce" or f.group <= 2:
        return []
    steps = 2 * math.ceil(math.log2(f.group))
    return [(f"tree/{pr}", steps * f.step_s(pr), 2 * S / (f.eff(pr, p.ll_bw_fraction) * f.chip_bytes_per_s)) for pr in _PROTOCOLS]


def _spanning(kind: str, S: np.ndarray, up: _Fabric, out: _Fabric, p: CollectiveParams) -> list[Cand]:
    """Candidates for a group of m chips in each of k domains (g = m k)."""
    m, k = up.group, out.group
    g = m * k
    cands: list[Cand] = []
    if kind == "send_recv":
        return _switch(kind, S, out, p)
    if kind == "all_to_all":
        # S/g to each member: (m-1)/g S stays in the domain, (g-m)/g S crosses the network;
        # both go at once, the slower fabric sets the time.
        for pr in _PROTOCOLS:
            local = _best(_one_fabric("all_to_all", S * (m / g), up, p), S)[0] if m > 1 else np.zeros_like(S)
            remote = (g - m) / g * S / (out.eff(pr, p.ll_bw_fraction) * out.chip_bytes_per_s)
            cands.append((f"direct/{pr}", out.step_s(pr), np.maximum(local, remote)))
        return cands

    # hierarchical: reduce-scatter inside the domain, the collective across domains on
    # 1/m of the buffer (each of the m chips over its own NIC, at once), all-gather inside.
    inter = _one_fabric(kind, S / m, out, p) + _tree_inter(kind, S / m, out, p)
    if m > 1:
        intra_kind = "reduce_scatter" if kind in ("all_reduce", "reduce_scatter") else "all_gather"
        t_rs, _ = _best(_one_fabric(intra_kind, S, up, p), S)
        t_intra = t_rs * (2 if kind == "all_reduce" else 1)
    else:
        t_intra = np.zeros_like(S)
    for name, lat, bw in inter:  # the intra-domain phases (their own best algorithm) count as bandwidth time
        cands.append((f"hierarchical({name})" if m > 1 else name, lat, t_intra + bw))

    # flat ring over all g chips (NCCL's multi-node ring): each channel's ring crosses
    # every domain boundary once; the m NICs of a domain carry m channels in parallel.
    if up.topology == "switch" and kind in ("all_reduce", "all_gather", "reduce_scatter"):
        steps, vol = _ring_steps_and_volume(kind, g)
        for pr in _PROTOCOLS:
            bw = min(up.eff(pr, p.ll_bw_fraction) * up.chip_bytes_per_s,
                     m * out.eff(pr, p.ll_bw_fraction) * out.chip_bytes_per_s)
            step = max(up.step_s(pr), out.step_s(pr))
            cands.append((f"ring/{pr}", steps * step, vol * S / bw))
    return cands


# ----------------------------------------------------------------------------- API


@dataclass(frozen=True)
class GroupLayout:
    """How a group sits on the system: m chips in each of k scale-up domains."""

    per_domain: int
    domains: int

    @property
    def span(self) -> str:
        if self.domains == 1:
            return "scale_up"
        return "scale_out" if self.per_domain == 1 else "both"


def group_layout(group_size: int, system: System, placement: str = "auto") -> GroupLayout:
    """Where a group of ``group_size`` chips sits.

    ``packed`` (the default, ``auto``) fills a scale-up domain before using the
    next, as a tensor-parallel group does; ``spread`` puts one member in each
    domain, as a data-parallel group whose other dimensions fill the domain does."""
    if placement not in PLACEMENTS:
        raise unknown_name_error("placement", placement, PLACEMENTS)
    g = int(group_size)
    if g < 1 or g != group_size:
        raise FablessError(f"group size must be a whole number of chips >= 1, got {group_size}")
    size = system.scale_up.size
    if placement == "spread" and g > 1:
        return GroupLayout(1, g)
    if g <= size:
        return GroupLayout(g, 1)
    if g % size:
        raise FablessError(f"a packed group of {g} chips does not fill whole scale-up domains of {size}; use a multiple of {size} or --placement spread")
    return GroupLayout(size, g // size)


def collective_time(
    kind: str,
    bytes: Any,  # noqa: A002 - the name users know from nccl-tests
    group_size: int,
    system: System,
    *,
    placement: str = "auto",
    params: CollectiveParams | None = None,
    per_domain: int | None = None,
) -> CollectiveTime:
    """Time of one collective of ``bytes`` (a number or a numpy array of sizes)
    over ``group_size`` chips of ``system``, with the fastest applicable algorithm.

    ``bytes`` is nccl-tests' size: the per-chip buffer (all-gather: the gathered
    output; reduce-scatter: the input; all-to-all: the whole send buffer;
    send/recv: the message). ``send_recv`` with ``group_size`` 2 is one transfer
    between two chips. ``params`` default to :func:`params_for` the system (the shipped
    parameters, or the system file's calibrated ones)."""
    kind = normalize_kind(kind)
    p = params or params_for(system)
    scalar = np.ndim(bytes) == 0
    S = np.atleast_1d(np.asarray(bytes, dtype=float))
    if np.any(~np.isfinite(S)) or np.any(S < 0):
        raise FablessError("message size must be a finite number of bytes >= 0")
    if kind == "send_recv" and group_size != 2:
        group_size = 2  # a transfer is between two chips
    if per_domain is not None and 1 <= per_domain < group_size and group_size % per_domain == 0:
        # a group laid out with a stride: per_domain members in each of group/per_domain domains
        layout = GroupLayout(int(per_domain), int(group_size) // int(per_domain))
    else:
        layout = group_layout(group_size, system, placement)
    g = layout.per_domain * layout.domains

    if g == 1:
        cands: list[Cand] = [("none", 0.0, np.zeros_like(S))]
        launch = 0.0
    elif layout.domains == 1:
        cands = _one_fabric(kind, S, _scale_up_fabric(system, layout.per_domain, p), p)
        launch = p.launch_latency_s
    else:
        up = _scale_up_fabric(system, layout.per_domain, p) if layout.per_domain > 1 else _scale_up_fabric(system, 1, p)
        out = _scale_out_fabric(system, layout.domains, p)
        cands = _spanning(kind, S, up, out, p)
        launch = p.launch_latency_s

    lat = np.array([c[1] for c in cands])[:, None] + launch
    bw = np.stack([np.broadcast_to(c[2], S.shape) for c in cands])
    total = lat + bw
    idx = total.argmin(axis=0)
    cols = np.arange(S.size)
    time_s = total[idx, cols]
    bound = np.where(lat[idx, 0] > bw[idx, cols], "latency", "bandwidth")
    names = np.array([c[0] for c in cands], dtype=object)[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        algbw = np.where(time_s > 0, S / time_s, np.inf)
    busbw = algbw * bus_factor(kind, g)

    def out_(x: np.ndarray) -> Any:
        return x[0].item() if scalar else x

    return CollectiveTime(
        kind=kind, group_size=g, bytes=out_(S), time_s=out_(time_s),
        algbw_bytes_per_s=out_(algbw), busbw_bytes_per_s=out_(busbw),
        algorithm=(names[0] if scalar else names), bound=(str(bound[0]) if scalar else bound),
        span=layout.span,
    )


def group_collective_time_s(
    kind: str,
    bytes: Any,  # noqa: A002
    group_size: int,
    system: System,
    *,
    within_domain: bool | None = None,
    params: CollectiveParams | None = None,
    per_domain: int | None = None,
) -> Any:
    """Seconds for a parallel plan's collective: ``within_domain=True`` packs the
    group into scale-up domains (tensor/expert parallel groups), ``False`` puts
    one member per domain (data/pipeline groups laid out across nodes), ``None``
    packs. ``per_domain`` (a divisor of the group) overrides both: that many members in
    each domain, as a strided group has (e.g. a dp group over tp-4 ranks on 8-chip nodes:
    2 per node). Returns a float, or an array for an array of sizes; 0 for a group of 1."""
    placement = "spread" if within_domain is False else "packed"
    if group_size <= 1:
        return 0.0 if np.ndim(bytes) == 0 else np.zeros(np.shape(bytes))
    return collective_time(kind, bytes, group_size, system, placement=placement, params=params,
                           per_domain=per_domain).time_s
