"""Collective communication on a system's scale-up domain and scale-out network.

Every algorithm is an alpha-beta model a reader can check by hand::

    time = launch + steps x step_latency + bytes_on_busiest_link / achievable_bandwidth

* ``launch`` is a fixed cost per call; ``step_latency`` is the fabric's hop
  latency (from the system preset) plus a protocol's software cost per step.
* ``bytes_on_busiest_link`` is the algorithm's volume: a ring all-reduce of S
  bytes over n chips moves ``2 (n-1)/n x S`` through each chip, an all-gather or
  reduce-scatter ``(n-1)/n x S``; NVLink SHARP (NVLS) ``(1 + 1/n) x S``.
* ``achievable_bandwidth`` is the link's one-direction bandwidth times an
  efficiency per fabric and protocol; a scale-up link generation (NVLink 5, ICI,
  ... matched on the chip's ``links.scale_up.technology``) may set its own
  efficiency, step costs and launch latency where measurements show a difference.
* Across scale-up domains every network step pays the network's hop latency plus
  a proxy / RDMA step cost (``scale_out.*_step_overhead_s``). A tree across domains
  forwards in chunks: where the network sets ``tree_chunk_bytes``, every level on the
  path waits for one chunk's transfer too (the pipeline's fill), so that part of its
  latency grows with the size up to a chunk.
* A direct all-to-all (NCCL's grouped sends and receives, one pair per peer) takes one
  step plus a software cost per peer message (``peer_overhead_s``) and may reach its own
  fraction of the bandwidth (``a2a_bw_efficiency``); both default to nothing extra.

Like NCCL, :func:`collective_time` evaluates every algorithm that applies (ring
and LL/Simple protocols, NVLS where the switch reduces, one-shot direct
exchange on fully-connected meshes, bidirectional rings along each torus
dimension, and, for groups that span scale-up domains, flat rings, trees and
hierarchical intra-inter-intra schemes, sequential or pipelined as NCCL's tree
streams chunks) and keeps the fastest for each size. Across switched scale-up
domains (NVSwitch nodes on a network) only NCCL's own algorithms are candidates:
the flat ring for every collective, and for an all-reduce the tree and NVLS-tree,
whose intra-domain phases stream with the network tree.
Sizes may be numpy arrays; every formula is vectorised.

:func:`put_all_to_all_time` is the other kind of all-to-all: one-sided puts, as the
expert-parallel kernels of DeepEP (NVSHMEM) run it, with no NCCL protocol or launch: bulk
transfer on each fabric at once plus one fixed kernel cost (``put.latency_s``).

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
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fabless.errors import FablessError, unknown_name_error
from fabless.hardware.schema import System
from fabless.params import load_param_file
from fabless.provenance import Source

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
    #: LL128 protocol (NCCL): bandwidth relative to Simple (0: the fabric's library has no LL128)
    #: and its software cost per step
    ll128_bw_fraction: float = 0.0
    ll128_step_overhead_s: float = 0.0
    #: A direct all-to-all (NCCL's grouped sends and receives, one pair per peer): the fraction of the
    #: fabric's bandwidth it reaches (0: bw_efficiency, the rings' fraction) and the software cost its
    #: proxy pays per peer message on top of one step (0: none beyond the step)
    a2a_bw_efficiency: float = 0.0
    peer_overhead_s: float = 0.0
    #: A tree across domains: the bytes per chip one level takes in before it forwards them (NCCL's
    #: tree moves the buffer in chunks; each level on the path adds one chunk's transfer, the fill of
    #: the pipeline). 0: not modelled, a level costs its step alone
    tree_chunk_bytes: float = 0.0
    #: 1: the fabric's collective library runs the Simple protocol only, no LL or LL128 (NCCL over EFA:
    #: aws-ofi-nccl carries neither); 0: the protocols above. A collective that crosses such a fabric runs
    #: Simple end to end (one protocol for the whole collective)
    simple_only: float = 0.0

    def a2a_efficiency(self) -> float:
        """The all-to-all's fraction of the bandwidth: its own where one is set, else the rings'."""
        return self.a2a_bw_efficiency or self.bw_efficiency


#: Fields a link generation may set instead of the scale-up default (None: use the default); its
#: ``a2a_bw_efficiency`` is what a direct all-to-all reaches on those links (NVLink 5's, fitted on the NVL72
#: all-to-alls), where the default is the rings' fraction.
GENERATION_FIELDS = ("bw_efficiency", "simple_step_overhead_s", "ll_step_overhead_s", "ll128_bw_fraction",
                     "ll128_step_overhead_s", "launch_latency_s", "nvls_bw_efficiency", "a2a_bw_efficiency")
#: Fields of one fabric (scale_up, scale_out), in FabricParams order; the LL128, all-to-all, tree-chunk and
#: Simple-only ones may be absent.
FABRIC_FIELDS = ("bw_efficiency", "simple_step_overhead_s", "ll_step_overhead_s", "ll128_bw_fraction", "ll128_step_overhead_s",
                 "a2a_bw_efficiency", "peer_overhead_s", "tree_chunk_bytes", "simple_only")


@dataclass(frozen=True)
class LinkGeneration:
    """What one scale-up link generation (NVLink 5, ICI, ...) changes from the scale-up
    defaults. ``match`` is text the chip's ``links.scale_up.technology`` contains (case and
    spaces optional, whole words); a field left None keeps the default."""

    key: str
    match: str
    bw_efficiency: float | None = None
    simple_step_overhead_s: float | None = None
    ll_step_overhead_s: float | None = None
    ll128_bw_fraction: float | None = None
    ll128_step_overhead_s: float | None = None
    launch_latency_s: float | None = None
    nvls_bw_efficiency: float | None = None
    a2a_bw_efficiency: float | None = None

    def matches(self, technology: str) -> bool:
        # a whole-word match, spaces optional ("NVLink 5" = "NVLink5"), case ignored:
        # "ICI" must not match inside "efficient"
        words = r"\s*".join(re.escape(w) for w in self.match.split())
        return re.search(rf"(?<![a-z0-9]){words}(?![a-z0-9])", str(technology), re.IGNORECASE) is not None


@dataclass(frozen=True)
class CollectiveParams:
    """Everything in collectives.yaml, as plain numbers, plus their sources."""

    launch_latency_s: float
    ll_bw_fraction: float
    scale_up: FabricParams
    scale_out: FabricParams
    nvls_bw_efficiency: float
    nvls_latency_s: float
    generations: tuple[LinkGeneration, ...] = ()
    #: NVLS's intra-domain phases inside an NVLS-tree all-reduce, as a fraction of the scale-up bandwidth
    #: (0: ``nvls_bw_efficiency``); a link generation's own NVLS efficiency replaces both
    nvls_tree_bw_efficiency: float = 0.0
    #: fixed cost of one one-sided put all-to-all kernel (:func:`put_all_to_all_time`)
    put_latency_s: float = 0.0
    #: fraction of a chip's NIC line rate that such a kernel's GPU-initiated RDMA writes sustain
    put_bw_efficiency: float = 1.0
    #: bytes/s a two-stage (normal) expert-parallel kernel's forwarding warps move over the scale-up links
    #: (:func:`ep_normal_time`; 0: no forwarding limit)
    put_forward_bytes_per_s: float = 0.0
    sources: dict[str, Source] = field(default_factory=dict, compare=False, hash=False)

    def replace(self, **changes: float) -> CollectiveParams:
        """A copy with some values changed; nested names use '__' (``scale_up__bw_efficiency``,
        ``generations__nvlink5__bw_efficiency``)."""
        flat = self.flat()
        for key, value in changes.items():
            if key not in flat:
                raise FablessError(f"unknown collective parameter '{key}'; known: {', '.join(flat)}")
            flat[key] = float(value)
        gens = tuple(
            LinkGeneration(g.key, g.match, **{f: flat.get(f"generations__{g.key}__{f}") for f in GENERATION_FIELDS})
            for g in self.generations
        )
        return CollectiveParams(
            launch_latency_s=flat["launch_latency_s"],
            ll_bw_fraction=flat["ll_bw_fraction"],
            scale_up=FabricParams(*(flat[f"scale_up__{f}"] for f in FABRIC_FIELDS)),
            scale_out=FabricParams(*(flat[f"scale_out__{f}"] for f in FABRIC_FIELDS)),
            nvls_bw_efficiency=flat["nvls__bw_efficiency"],
            nvls_latency_s=flat["nvls__latency_s"],
            generations=gens,
            nvls_tree_bw_efficiency=flat["nvls__tree_bw_efficiency"],
            put_latency_s=flat["put__latency_s"],
            put_bw_efficiency=flat["put__bw_efficiency"],
            put_forward_bytes_per_s=flat["put__forward_bytes_per_s"],
            sources=self.sources,
        )

    def flat(self) -> dict[str, float]:
        out = {"launch_latency_s": self.launch_latency_s, "ll_bw_fraction": self.ll_bw_fraction}
        for name in ("scale_up", "scale_out"):
            fab = getattr(self, name)
            for f in FABRIC_FIELDS:
                out[f"{name}__{f}"] = getattr(fab, f)
        out["nvls__bw_efficiency"] = self.nvls_bw_efficiency
        out["nvls__latency_s"] = self.nvls_latency_s
        out["nvls__tree_bw_efficiency"] = self.nvls_tree_bw_efficiency
        out["put__latency_s"] = self.put_latency_s
        out["put__bw_efficiency"] = self.put_bw_efficiency
        out["put__forward_bytes_per_s"] = self.put_forward_bytes_per_s
        for g in self.generations:
            for f in GENERATION_FIELDS:
                v = getattr(g, f)
                if v is not None:
                    out[f"generations__{g.key}__{f}"] = v
        return out

    def generation(self, technology: str | None) -> LinkGeneration | None:
        """The first link generation whose ``match`` the technology text contains."""
        if not technology:
            return None
        return next((g for g in self.generations if g.matches(technology)), None)


def _number(plain: dict, path: str, origin: str, *, fraction: bool = False, at_most_one: bool = False) -> float:
    node: Any = plain
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise FablessError(f"{origin}: missing required field '{path}'")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise FablessError(f"{origin}: field '{path}' must be a number, got {node!r}")
    value = float(node)
    if value < 0 or (fraction and not 0 < value <= 1) or (at_most_one and value > 1):
        want = "in (0, 1]" if fraction else "in [0, 1] (0: not available)" if at_most_one else ">= 0"
        raise FablessError(f"{origin}: field '{path}' must be {want}, got {value}")
    return value


@lru_cache(maxsize=8)
def _load_params_cached(path: str) -> CollectiveParams:
    pf = load_param_file(path, require_sources=Path(path) == _PARAMS_PATH)
    plain, sources = pf.plain, pf.sources()

    def fabric(name: str) -> FabricParams:
        node = plain.get(name) if isinstance(plain.get(name), dict) else {}
        optional = {f: _number(plain, f"{name}.{f}", path, at_most_one=f in ("ll128_bw_fraction", "a2a_bw_efficiency"))
                    for f in FABRIC_FIELDS[3:] if f in node}
        return FabricParams(
            _number(plain, f"{name}.bw_efficiency", path, fraction=True),
            _number(plain, f"{name}.simple_step_overhead_s", path),
            _number(plain, f"{name}.ll_step_overhead_s", path),
            **optional,
        )

    gens_raw = plain.get("generations") or {}
    if not isinstance(gens_raw, dict):
        raise FablessError(f"{path}: 'generations' must be a mapping of generation name -> fields")
    gens = []
    for key, node in gens_raw.items():
        if not isinstance(node, dict) or not isinstance(node.get("match"), str):
            raise FablessError(f"{path}: generations.{key} needs a 'match' text (what the chip's scale-up technology contains)")
        unknown = set(node) - {"match", *GENERATION_FIELDS}
        if unknown:
            raise FablessError(f"{path}: generations.{key}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(GENERATION_FIELDS)}")
        vals = {f: _number(plain, f"generations.{key}.{f}", path, fraction=f.endswith("efficiency"),
                           at_most_one=f == "ll128_bw_fraction")
                for f in GENERATION_FIELDS if f in node}
        gens.append(LinkGeneration(str(key), node["match"], **vals))

    return CollectiveParams(
        launch_latency_s=_number(plain, "launch_latency_s", path),
        ll_bw_fraction=_number(plain, "ll_bw_fraction", path, fraction=True),
        scale_up=fabric("scale_up"),
        scale_out=fabric("scale_out"),
        nvls_bw_efficiency=_number(plain, "nvls.bw_efficiency", path, fraction=True),
        nvls_latency_s=_number(plain, "nvls.latency_s", path),
        generations=tuple(gens),
        # optional: a file without it runs NVLS-tree's intra-domain phases at the NVLS efficiency
        nvls_tree_bw_efficiency=(_number(plain, "nvls.tree_bw_efficiency", path, fraction=True)
                                 if "tree_bw_efficiency" in (plain.get("nvls") or {}) else 0.0),
        put_latency_s=_number(plain, "put.latency_s", path),
        put_bw_efficiency=_number(plain, "put.bw_efficiency", path, fraction=True),
        # optional: a file from before the two-stage kernel's forwarding rate has no forwarding limit
        put_forward_bytes_per_s=(_number(plain, "put.forward_bytes_per_s", path)
                                 if "forward_bytes_per_s" in (plain.get("put") or {}) else 0.0),
        sources={k: Source(**v) for k, v in sources.items()},
    )


def load_params(path: str | Path | None = None) -> CollectiveParams:
    """The shipped parameters, or a user's file with the same fields."""
    return _load_params_cached(str(path or _PARAMS_PATH))


def _generation_value_pattern(generation: str, key: str) -> re.Pattern[str]:
    return re.compile(r"(\n  " + re.escape(generation) + r":\n(?:    .*\n)*?    " + re.escape(key) + r":\n      value: )([0-9.e+-]+)")


def generation_value_in_text(text: str, generation: str, key: str) -> float:
    """``generations.<generation>.<key>.value`` read from the text of a collectives.yaml (the fit
    scripts edit copies of the file one value at a time). Raises FablessError if absent."""
    m = _generation_value_pattern(generation, key).search(text)
    if m is None:
        raise FablessError(f"collectives.yaml: generations.{generation}.{key} not found")
    return float(m.group(2))


def with_generation_value_in_text(text: str, generation: str, key: str, value: float) -> str:
    """The text of a collectives.yaml with ``generations.<generation>.<key>.value`` rewritten
    (4 significant digits) and every other line untouched. Raises FablessError if absent."""
    out, n = _generation_value_pattern(generation, key).subn(lambda m: m.group(1) + f"{value:.4e}", text)
    if n != 1:
        raise FablessError(f"collectives.yaml: generations.{generation}.{key} not found")
    return out


#: Scale-up values (flat names) -> the link-generation field that would otherwise replace them.
_GENERATION_OF = {"scale_up__bw_efficiency": "bw_efficiency", "scale_up__simple_step_overhead_s": "simple_step_overhead_s",
                  "scale_up__ll_step_overhead_s": "ll_step_overhead_s", "scale_up__ll128_bw_fraction": "ll128_bw_fraction",
                  "scale_up__ll128_step_overhead_s": "ll128_step_overhead_s", "launch_latency_s": "launch_latency_s",
                  "nvls__bw_efficiency": "nvls_bw_efficiency", "scale_up__a2a_bw_efficiency": "a2a_bw_efficiency"}


def with_system_values(params: CollectiveParams, values: dict[str, float], technology: str | None) -> CollectiveParams:
    """``params`` with ``values`` (flat names, :meth:`CollectiveParams.flat`) measured on one
    system whose scale-up links are ``technology``: a scale-up value replaces the default and,
    where that technology's link generation sets its own, the generation's too (the values
    describe these very links)."""
    flat = dict(values)
    g = params.generation(technology)
    if g is not None:
        for name, f in _GENERATION_OF.items():
            if name in values and getattr(g, f) is not None:
                flat[f"generations__{g.key}__{f}"] = values[name]
    return params.replace(**flat)


def params_for(system: System, base: CollectiveParams | None = None) -> CollectiveParams:
    """The parameters for collectives on ``system``: ``base`` (the shipped ones by default)
    with the system file's own ``calibration.collectives`` values on top, if it has any
    (:func:`with_system_values`)."""
    p = base or load_params()
    cal = system.calibration.collectives if system.calibration is not None else None
    if cal is None:
        return p
    su = system.scale_up_link
    return with_system_values(p, cal.flat(), su.technology if su is not None else None)


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
    algorithm: Any  # e.g. "ring/simple", "nvls", "pipelined(tree/simple)"
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
    link_bytes_per_s: float = 0.0  # one link of this dimension, one direction


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
    nvls_bw_efficiency: float = 1.0
    launch_s: float = 0.0
    #: NVLS inside an NVLS-tree all-reduce (resolved by _scale_up_fabric from CollectiveParams.nvls_tree_bw_efficiency;
    #: a switch domain always has one)
    nvls_tree_bw_efficiency: float = 0.0

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocols the fabric's collective library runs: Simple and LL, and LL128 where
        its bandwidth fraction is above 0; Simple alone where the fabric is ``simple_only``."""
        if self.params.simple_only:
            return _PROTOCOLS_SIMPLE
        return _PROTOCOLS if self.params.ll128_bw_fraction > 0 else _PROTOCOLS_NO_LL128

    def step_s(self, protocol: str) -> float:
        fp = self.params
        extra = {"simple": fp.simple_step_overhead_s, "ll128": fp.ll128_step_overhead_s}.get(protocol, fp.ll_step_overhead_s)
        return self.hop_latency_s + extra

    def eff(self, protocol: str, ll_fraction: float, *, a2a: bool = False) -> float:
        e = self.params.a2a_efficiency() if a2a else self.params.bw_efficiency
        if protocol == "ll128":
            return e * self.params.ll128_bw_fraction
        return e * ll_fraction if protocol == "ll" else e

    def fill_s(self, protocol: str, ll_fraction: float, level_bytes: np.ndarray) -> np.ndarray | float:
        """What one level of a tree on this fabric adds to the path for its pipeline's fill: the
        transfer of the first chunk (``tree_chunk_bytes``, or the level's whole ``level_bytes`` per
        chip where that is less) before the level forwards it; 0 where the fabric sets no chunk."""
        chunk = self.params.tree_chunk_bytes
        if chunk <= 0:
            return 0.0
        return np.minimum(level_bytes, chunk) / (self.eff(protocol, ll_fraction) * self.chip_bytes_per_s)

    def peers_s(self, peers: int) -> float:
        """What a direct all-to-all's proxy pays for its messages to ``peers`` peers, on top of its steps."""
        return peers * self.params.peer_overhead_s


def _compact_block(n: int, dims: list[int]) -> list[int] | None:
    """Extents of a compact block of ``n`` chips in a torus of ``dims`` (one per dimension, in
    order): the smallest extent that can still double inside its dimension doubles, as TPU slices
    are shaped (16 chips of a v4 pod: 2x2x4; 8 of a 16x16 v6e pod: 2x4). None if ``n`` does not
    tile that way."""
    part = [1] * len(dims)
    while n > 1:
        options = [i for i in range(len(dims)) if dims[i] % (part[i] * 2) == 0]
        if n % 2 or not options:
            return None
        i = min(options, key=lambda j: (part[j], j))
        part[i] *= 2
        n //= 2
    return part


def slice_dims(system: System) -> tuple[list[int], list[bool]] | None:
    """The slice a job on ``system.chips`` chips of a larger torus domain runs on: its extent
    along each of the domain's dimensions (:func:`_compact_block`) and whether each may wrap
    around (every dimension, from ``scale_up.full_wrap_slice_chips`` chips on; otherwise only a
    dimension the slice spans whole). None where the job fills the domain (or spans several),
    the domain is not a torus with ``scale_up.compact_slices``, or the count does not tile it."""
    su = system.scale_up
    if su.topology != "torus" or not su.compact_slices or not su.torus_dims or system.chips >= su.size:
        return None
    full = list(su.torus_dims)
    part = _compact_block(system.chips, full)
    if part is None:
        return None
    every = su.full_wrap_slice_chips is not None and system.chips >= su.full_wrap_slice_chips
    return part, [every or p == d for p, d in zip(part, full)]


def _torus_dims(group: int, dims: list[int], shape: tuple[int, ...] | None = None,
                link_bw: list[float] | None = None, wraps: list[bool] | None = None) -> tuple[_Dim, ...]:
    """The sub-torus a packed group of ``group`` chips occupies.

    Whole dimensions first (they keep their wrap-around links); what is left is spread
    over the next dimensions as a compact block (sizes as equal as powers of two allow,
    as TPU slices are shaped: 8 chips of a 16x16 pod are 4x2, not a line of 8), each
    part of a dimension a line. ``shape`` names the group's extent along each torus
    dimension instead (e.g. ``(1, 4, 2)``); a part equal to the whole dimension wraps.
    ``link_bw``: one link's one-direction bytes/s along each dimension (0 if not given).
    ``wraps``: whether each dimension has wrap-around links at all (default: all do; a
    slice smaller than a TPU cube is a mesh, :func:`slice_dims`)."""
    bw = list(link_bw) if link_bw is not None else [0.0] * len(dims)
    wr = list(wraps) if wraps is not None else [True] * len(dims)
    if shape is not None:
        if len(shape) != len(dims) or any(s < 1 or d % s for s, d in zip(shape, dims)) or math.prod(shape) != group:
            raise FablessError(f"group shape {'x'.join(map(str, shape))} does not fit the {'x'.join(map(str, dims))} torus "
                               f"with {group} chips: give one size per dimension, each dividing it, product = group size")
        return tuple(_Dim(s, s == d and w, b) for s, d, b, w in zip(shape, dims, bw, wr) if s > 1)
    whole: list[_Dim] = []
    remaining = group
    free: list[int] = []
    free_bw: list[float] = []
    free_wr: list[bool] = []
    for d, b, w in zip(dims, bw, wr):
        if d == 1:
            continue
        if not free and remaining >= d and remaining % d == 0:
            whole.append(_Dim(d, w, b))
            remaining //= d
        else:
            free.append(d)
            free_bw.append(b)
            free_wr.append(w)
    part = _compact_block(remaining, free)
    if part is None:
        raise FablessError(f"a group of {group} chips does not tile the {'x'.join(map(str, dims))} torus; "
                           f"use a group size that is a product of its dimensions")
    return tuple(whole) + tuple(_Dim(p_, p_ == d and w, b) for p_, d, b, w in zip(part, free, free_bw, free_wr) if p_ > 1)


def _scale_up_fabric(system: System, group: int, params: CollectiveParams,
                     shape: tuple[int, ...] | None = None) -> _Fabric:
    su = system.scale_up
    link = system.scale_up_link
    if link is None:
        raise FablessError(f"system '{system.name}': chip '{system.chip.name}' has no scale-up links (chip.links.scale_up) "
                           "and the system gives none (scale_up.bidir_gb_s_per_chip)")
    chip_bw = link.unidir_bytes_per_s
    hop = su.latency_us * 1e-6
    fab, nvls_eff, launch = scale_up_params(link.technology, params)
    if su.topology in ("torus", "ring"):
        full = list(su.torus_dims) if su.topology == "torus" else [su.size]
        if su.topology == "torus" and su.torus_dim_bidir_gb_s:
            # the system says what each dimension carries: per chip both ways over its 2 links
            per_dim = [bidir * 1e9 / 4 for bidir in su.torus_dim_bidir_gb_s]
        else:
            n_dims = sum(1 for d in full if d > 1) or 1
            per_dim = [chip_bw / (2 * n_dims)] * len(full)  # two links (+ and -) per dimension
        wraps = None
        sliced = slice_dims(system) if shape is None else None
        if sliced is not None:  # a job on part of the domain: its groups are packed inside its slice
            full, wraps = sliced
        dims = _torus_dims(group, full, shape, per_dim, wraps)
        return _Fabric("scale_up", "torus", group, chip_bw, max(per_dim), hop, fab, dims,
                       nvls_bw_efficiency=nvls_eff, launch_s=launch)
    if shape is not None:
        raise FablessError(f"a group shape is for a torus; system '{system.name}' has a {su.topology} scale-up domain")
    if su.topology == "fully_connected":
        peers = max(su.size - 1, 1)
        return _Fabric("scale_up", "fully_connected", group, chip_bw, chip_bw / peers, hop, fab,
                       nvls_bw_efficiency=nvls_eff, launch_s=launch)
    g = params.generation(link.technology)
    # a link generation's own NVLS efficiency describes those links in both uses; without a tree value, the NVLS one
    own = g is not None and g.nvls_bw_efficiency is not None
    tree_eff = nvls_eff if own else (params.nvls_tree_bw_efficiency or nvls_eff)
    return _Fabric("scale_up", "switch", group, chip_bw, chip_bw, hop, fab,
                   in_network_reduction=su.in_network_reduction, nvls_bw_efficiency=nvls_eff, launch_s=launch,
                   nvls_tree_bw_efficiency=tree_eff)


def scale_up_params(technology: str | None, params: CollectiveParams) -> tuple[FabricParams, float, float]:
    """(fabric parameters, NVLS efficiency, launch latency in s) for a scale-up link
    technology: the scale-up defaults with whatever its link generation sets instead."""
    g = params.generation(technology)
    base = params.scale_up

    def pick(value: float | None, default: float) -> float:
        return default if value is None else value

    if g is None:
        return base, params.nvls_bw_efficiency, params.launch_latency_s
    fab = FabricParams(*(pick(getattr(g, f, None), getattr(base, f)) for f in FABRIC_FIELDS))
    return fab, pick(g.nvls_bw_efficiency, params.nvls_bw_efficiency), pick(g.launch_latency_s, params.launch_latency_s)


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
# bandwidth_s is an array over sizes and latency_s a float, or an array where a tree's
# pipeline fill grows with the size; launch is added later.

Cand = tuple[str, "float | np.ndarray", np.ndarray]
_PROTOCOLS = ("simple", "ll128", "ll")
_PROTOCOLS_NO_LL128 = ("simple", "ll")
_PROTOCOLS_SIMPLE = ("simple",)


def _ring_steps_and_volume(kind: str, n: int) -> tuple[int, float]:
    """(steps, bytes through each chip per byte of buffer) of a ring."""
    if kind == "all_reduce":
        return 2 * (n - 1), 2 * (n - 1) / n
    return n - 1, (n - 1) / n  # all_gather / reduce_scatter


def _switch(kind: str, S: np.ndarray, f: _Fabric, p: CollectiveParams) -> list[Cand]:
    n = f.group
    out: list[Cand] = []
    if kind == "send_recv":
        return [(f"p2p/{pr}", f.step_s(pr), S / (f.eff(pr, p.ll_bw_fraction) * f.link_bytes_per_s)) for pr in f.protocols]
    if kind == "all_to_all":
        # every chip sends S/n to each of the n-1 others at once, through its own port; its proxy
        # posts one message per peer
        return [(f"direct/{pr}", f.step_s(pr) + f.peers_s(n - 1),
                 (n - 1) / n * S / (f.eff(pr, p.ll_bw_fraction, a2a=True) * f.chip_bytes_per_s)) for pr in f.protocols]
    steps, vol = _ring_steps_and_volume(kind, n)
    for pr in f.protocols:
        out.append((f"ring/{pr}", steps * f.step_s(pr), vol * S / (f.eff(pr, p.ll_bw_fraction) * f.chip_bytes_per_s)))
    if kind == "all_reduce" and f.in_network_reduction and n > 2:
        # NVLS: each chip sends S (multimem reduce-loads of every shard) + S/n (its reduced shard
        # multicast back), and receives S/n + S: (1 + 1/n) S each way.
        out.append(("nvls", p.nvls_latency_s + 2 * f.step_s("simple"),
                    (1 + 1 / n) * S / (f.nvls_bw_efficiency * f.chip_bytes_per_s)))
    return out


def _fully_connected(kind: str, S: np.ndarray, f: _Fabric, p: CollectiveParams) -> list[Cand]:
    """One-shot direct exchange over the g-1 links to the other members."""
    n = f.group
    out: list[Cand] = []
    for pr in f.protocols:
        bw = f.eff(pr, p.ll_bw_fraction) * f.link_bytes_per_s  # one link to each peer
        if kind == "send_recv":
            out.append((f"p2p/{pr}", f.step_s(pr), S / bw))
        elif kind == "all_reduce":  # direct reduce-scatter then direct all-gather
            out.append((f"direct/{pr}", 2 * f.step_s(pr), 2 * (S / n) / bw))
        elif kind == "all_to_all":  # S/n to each peer, all links at once, one message per peer
            a2a_bw = f.eff(pr, p.ll_bw_fraction, a2a=True) * f.link_bytes_per_s
            out.append((f"direct/{pr}", f.step_s(pr) + f.peers_s(n - 1), (S / n) / a2a_bw))
        else:  # all_gather, reduce_scatter: S/n to or from each peer, all links at once
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
    for pr in f.protocols:
        e = f.eff(pr, p.ll_bw_fraction)
        # a dimension the group closes is a ring over 2 links; a line carries a ring at one link's rate
        ring_bw = [e * d.link_bytes_per_s * (2 if d.wrap else 1) for d in dims]
        if kind == "send_recv":  # to a neighbour over the fastest link
            out.append((f"p2p/{pr}", f.step_s(pr), S / (e * f.link_bytes_per_s)))
            continue
        if kind == "all_to_all":
            # bytes x hops spread over the group's links in proportion to their capacity
            hops = sum(_ring_mean_distance(d.size, d.wrap) for d in dims)
            capacity = sum(2 * (1 if d.wrap else (d.size - 1) / d.size) * d.link_bytes_per_s for d in dims)
            out.append((f"torus-direct/{pr}", sum(d.size - 1 for d in dims) * f.step_s(pr) + f.peers_s(f.group - 1),
                        S * hops / (f.eff(pr, p.ll_bw_fraction, a2a=True) * capacity)))
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


def _best_parts(cands: list[Cand], S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(latency, bandwidth time) of the fastest candidate at each size."""
    lats, bws = _stack(cands, S)
    idx = (lats + bws).argmin(axis=0)
    cols = np.arange(S.size)
    return lats[idx, cols], bws[idx, cols]


def _stack(cands: list[Cand], S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(latencies, bandwidth times) of the candidates, one row each, one column per size."""
    lats = np.stack([np.broadcast_to(np.asarray(lat, dtype=float), S.shape) for _, lat, _ in cands])
    bws = np.stack([np.broadcast_to(bw, S.shape) for _, _, bw in cands])
    return lats, bws


def _best(cands: list[Cand], S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fastest time per size over candidates, and the index of the winner."""
    times = np.stack([lat + bw for _, lat, bw in cands])
    return times.min(axis=0), times.argmin(axis=0)


# ----------------------------------------------------------------------------- spanning groups


def _tree_inter(kind: str, S: np.ndarray, f: _Fabric, p: CollectiveParams) -> list[Cand]:
    """Double binary tree over k domains (NCCL's tree): 2 log2(k) levels on the path (reduce up,
    broadcast down), each a step plus the fill of one chunk (:meth:`_Fabric.fill_s`); each chip
    sends and receives the buffer once in the reduce and once in the broadcast. On two domains the
    two trees are one exchange each way: each chip sends and receives half the buffer in each."""
    if kind != "all_reduce" or f.group <= 1:
        return []
    steps = 2 * math.ceil(math.log2(f.group))
    volume = 1.0 if f.group == 2 else 2.0
    return [(f"tree/{pr}", steps * (f.step_s(pr) + f.fill_s(pr, p.ll_bw_fraction, S)),
             volume * S / (f.eff(pr, p.ll_bw_fraction) * f.chip_bytes_per_s)) for pr in f.protocols]


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
        # Each chip's proxy posts one network message per remote peer (g - m of them).
        for pr in out.protocols:
            local = _best(_one_fabric("all_to_all", S * (m / g), up, p), S)[0] if m > 1 else np.zeros_like(S)
            remote = (g - m) / g * S / (out.eff(pr, p.ll_bw_fraction, a2a=True) * out.chip_bytes_per_s)
            cands.append((f"direct/{pr}", out.step_s(pr) + out.peers_s(g - m), np.maximum(local, remote)))
        return cands

    # hierarchical: reduce-scatter inside the domain, the collective across domains on
    # 1/m of the buffer (each of the m chips over its own NIC, at once), all-gather inside.
    # Across switched domains (NVSwitch nodes) NCCL has no such scheme but its tree: an
    # all-reduce crosses the network as a tree (on two domains, one exchange each way), and
    # an all-gather or reduce-scatter only as the flat ring below.
    if up.topology == "switch":
        inter = _tree_inter(kind, S / m, out, p)
    else:
        inter = _one_fabric(kind, S / m, out, p) + (_tree_inter(kind, S / m, out, p) if k > 2 else [])
    phases = 2 if kind == "all_reduce" else 1
    if m > 1:
        intra_kind = "reduce_scatter" if kind in ("all_reduce", "reduce_scatter") else "all_gather"
        intra = _one_fabric(intra_kind, S, up, p)
        if out.params.simple_only:  # the collective runs one protocol end to end: Simple, as the network does
            intra = [c for c in intra if c[0].endswith("/simple")] or intra
        lat_i, bw_i = _best_parts(intra, S)
        lat_intra, bw_intra = phases * lat_i, phases * bw_i
    else:
        lat_intra = bw_intra = np.zeros_like(S)
    nvls = kind == "all_reduce" and m > 2 and up.in_network_reduction
    if nvls:
        # NCCL's NVLS-tree: inside the domain the switch reduces (multimem loads) and multicasts
        # (multimem stores), the single-domain NVLS all-reduce's traffic, (1 + 1/m) S each way, at the
        # efficiency NVLS reaches while the network tree streams through it (nvls.tree_bw_efficiency)
        lat_nvls = p.nvls_latency_s + 2 * up.step_s("simple")
        bw_nvls = (1 + 1 / m) * S / (up.nvls_tree_bw_efficiency * up.chip_bytes_per_s)
    for name, lat, bw in inter:  # the intra-domain phases (their own best algorithm) count as bandwidth time
        cands.append((f"hierarchical({name})" if m > 1 else name, lat, lat_intra + bw_intra + bw))
        if m > 1 and kind == "all_reduce":
            # NCCL's tree / NVLS-tree all-reduce streams chunks through the phases: the
            # intra-domain reduce, the network and the intra-domain broadcast work on
            # different chunks at once, so the slowest phase sets the rate; every phase's
            # step latency is still paid once.
            cands.append((f"pipelined({name})", lat, lat_intra + np.maximum(bw_intra, bw)))
            if nvls:
                cands.append((f"nvls-tree({name})", lat + lat_nvls, np.maximum(bw_nvls, bw)))

    # flat ring over all g chips (NCCL's multi-node ring): each channel's ring crosses
    # every domain boundary once; the m NICs of a domain carry m channels in parallel.
    # Its latency is the path of one chunk, pipelined through the ring: of its steps (hops),
    # the worst chunk crosses each of the k domain boundaries once per pass (2k for an
    # all-reduce, as NCCL's tuner counts them) at the network's step cost, the other hops
    # at the scale-up step cost. A chunk moves on only when the next rank has a free slot
    # for it (flow control over a few slots per connection), so the ring advances at its
    # slower fabric's pace: where the network is the ring's slower link, no scale-up hop
    # goes faster than a network step (AWS p5 rings of 16-256 GPUs and the two-instance
    # small all-reduces: docs/collectives.md). An LL or LL128 hop costs the slower of the
    # two steps; a Simple hop the network's, since the scale-up Simple step cost is
    # NVLink's own chunk pacing (fitted on one-node rings), which the network's replaces.
    if up.topology == "switch" and kind in ("all_reduce", "all_gather", "reduce_scatter"):
        steps, vol = _ring_steps_and_volume(kind, g)
        inter_steps = min(steps, (2 if kind == "all_reduce" else 1) * k)
        for pr in (q for q in up.protocols if q in out.protocols):  # one protocol end to end
            up_bw = up.eff(pr, p.ll_bw_fraction) * up.chip_bytes_per_s
            out_bw = m * out.eff(pr, p.ll_bw_fraction) * out.chip_bytes_per_s
            if out_bw < up_bw:  # the network paces the ring: no hop goes faster than a network step
                intra_step = out.step_s(pr) if pr == "simple" else max(out.step_s(pr), up.step_s(pr))
            else:
                intra_step = up.step_s(pr)
            lat = (steps - inter_steps) * intra_step + inter_steps * out.step_s(pr)
            bw = min(up_bw, out_bw)
            cands.append((f"ring/{pr}", lat, vol * S / bw))
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
    group_shape: tuple[int, ...] | None = None,
) -> CollectiveTime:
    """Time of one collective of ``bytes`` (a number or a numpy array of sizes)
    over ``group_size`` chips of ``system``, with the fastest applicable algorithm.

    ``bytes`` is nccl-tests' size: the per-chip buffer (all-gather: the gathered
    output; reduce-scatter: the input; all-to-all: the whole send buffer;
    send/recv: the message). ``send_recv`` with ``group_size`` 2 is one transfer
    between two chips. ``group_shape`` (torus scale-up only) is the group's extent
    along each torus dimension, e.g. ``(4, 2)`` for 8 chips spanning two mesh axes of
    a 16x16 slice; None packs the group as described in :func:`_torus_dims`.
    ``params`` default to :func:`params_for` the system (the shipped parameters, or the
    system file's calibrated ones)."""
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
        up = _scale_up_fabric(system, layout.per_domain, p, group_shape)
        cands = _one_fabric(kind, S, up, p)
        launch = up.launch_s
    else:
        up = _scale_up_fabric(system, layout.per_domain, p, group_shape if layout.per_domain > 1 else None)
        out = _scale_out_fabric(system, layout.domains, p)
        cands = _spanning(kind, S, up, out, p)
        launch = up.launch_s

    lat, bw = _stack(cands, S)
    lat = lat + launch
    total = lat + bw
    idx = total.argmin(axis=0)
    cols = np.arange(S.size)
    time_s = total[idx, cols]
    bound = np.where(lat[idx, cols] > bw[idx, cols], "latency", "bandwidth")
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


def put_all_to_all_time(
    bytes: Any,  # noqa: A002 - the whole send buffer, as collective_time's all-to-all
    group_size: int,
    system: System,
    *,
    params: CollectiveParams | None = None,
) -> CollectiveTime:
    """Time of a one-sided put all-to-all of ``bytes`` (the whole send buffer, S/g to each
    member) over a packed group of ``group_size`` chips: the kernels of an expert-parallel
    library built on NVSHMEM (DeepEP), not NCCL's.

    Each chip writes its share for every peer straight into that peer's receive buffer, all
    peers at once: stores over the scale-up links to the peers of its own domain,
    GPU-initiated RDMA writes through its NIC to the others, a local copy to itself. After
    its data, one count per destination tells the receiver how much arrived; the receiver
    polls it. There are no ring steps, no chunked protocol with flow control (NCCL's Simple,
    LL, LL128) and no CPU proxy, so::

        time = put.latency_s + max(scale-up hop + (m-1)/g S / (scale_up efficiency x link bw),
                                   network hop + (g-m)/g S / (put.bw_efficiency x NIC bw))

    for m members in each scale-up domain. The stores over the scale-up links run at that
    fabric's Simple-protocol efficiency; the RDMA writes at ``put.bw_efficiency``, the kernel's
    own fraction of the NIC (a few SMs post them, in chunks, not NCCL's proxy and protocol);
    ``put.latency_s`` is the kernel's fixed cost (start, the count signal after the data,
    the receiver's wait and its copy out of the receive buffer). The message count does not
    enter: a put of a few KiB keeps the link busier than the NIC's message rate limits it."""
    p = params or params_for(system)
    scalar = np.ndim(bytes) == 0
    S = np.atleast_1d(np.asarray(bytes, dtype=float))
    if np.any(~np.isfinite(S)) or np.any(S < 0):
        raise FablessError("message size must be a finite number of bytes >= 0")
    layout = group_layout(group_size, system, "packed")
    m, g = layout.per_domain, layout.per_domain * layout.domains
    legs = [np.zeros_like(S)]
    if m > 1:
        up = _scale_up_fabric(system, m, p)
        legs.append(up.hop_latency_s + (m - 1) / g * S / (up.params.bw_efficiency * up.chip_bytes_per_s))
    if layout.domains > 1:
        out = _scale_out_fabric(system, layout.domains, p)
        legs.append(out.hop_latency_s + (g - m) / g * S / (p.put_bw_efficiency * out.chip_bytes_per_s))
    slowest = np.stack(legs).max(axis=0)  # the fabric whose last count arrives last
    time_s = p.put_latency_s + slowest if g > 1 else np.zeros_like(S)
    with np.errstate(divide="ignore", invalid="ignore"):
        algbw = np.where(time_s > 0, S / time_s, np.inf)
        busbw = algbw * bus_factor("all_to_all", g)
    bound = np.where(slowest > p.put_latency_s, "bandwidth", "latency")

    def out_(x: np.ndarray) -> Any:
        return x[0].item() if scalar else x

    return CollectiveTime(kind="all_to_all", group_size=g, bytes=out_(S), time_s=out_(time_s),
                          algbw_bytes_per_s=out_(algbw), busbw_bytes_per_s=out_(busbw),
                          algorithm="put", bound=(str(bound[0]) if scalar else bound), span=layout.span)


@dataclass(frozen=True)
class EpRouting:
    """Expected destinations of one token under expert-parallel routing (:func:`ep_routing`)."""

    #: nodes (scale-up domains) its experts are on, its own node included if it is one of them
    nodes: float
    #: of those, the nodes other than the sender's
    remote_nodes: float
    #: ranks (chips) its experts are on
    ranks: float


def ep_routing(top_k: int, experts: int, ranks: int, per_node: int, groups: int | None = None) -> EpRouting:
    """Expected distinct nodes and ranks one token's ``top_k`` experts fall on, with ``experts`` spread evenly
    over ``ranks`` chips, ``per_node`` to a node, and the experts drawn at random within ``groups`` nodes
    drawn at random (DeepSeek-V3's node-limited routing, as DeepEP's tests draw it: the top ``groups`` nodes
    by their best expert's score, then the top ``top_k`` experts of those nodes, every score random; None or
    more than the nodes: every node). Exact for draws without replacement: a chosen node holding ``e`` of
    the ``c`` candidate experts is missed with probability ``C(c - e, k) / C(c, k)``; by symmetry each node
    is chosen with probability ``groups / nodes``."""
    if min(top_k, experts, ranks, per_node) < 1 or ranks % per_node or experts % ranks:
        raise FablessError(f"expert routing needs whole experts per rank and ranks per node, got {experts} experts, "
                           f"{ranks} ranks, {per_node} per node")
    nodes = ranks // per_node
    g = nodes if groups is None else max(1, min(int(groups), nodes))
    per_node_experts, per_rank_experts = experts // nodes, experts // ranks
    candidates = g * per_node_experts
    if top_k > candidates:
        raise FablessError(f"top-{top_k} routing over {g} node(s) of {per_node_experts} experts: too few experts")

    def missed(held: int) -> float:
        return math.comb(candidates - held, top_k) / math.comb(candidates, top_k)

    touched = g * (1 - missed(per_node_experts))
    return EpRouting(nodes=touched, remote_nodes=touched * (nodes - 1) / nodes,
                     ranks=g * per_node * (1 - missed(per_rank_experts)))


def ep_normal_time(token_bytes: float, tokens: int, routing: EpRouting, group_size: int, system: System, *,
                   params: CollectiveParams | None = None) -> float:
    """Time (s) of one dispatch or combine of a two-stage (normal, high-throughput) expert-parallel kernel, DeepEP's
    internode kernels: each of a chip's ``tokens`` crosses the network once per other node its experts are on (to
    the chip of the same local index there: ``routing.remote_nodes`` copies), and the chip that receives it
    forwards it over the scale-up links to each chip of that node that holds one of its experts; combine runs
    the same path back. The two stages stream chunks through each other, so::

        time = put.latency_s + max(network hop + tokens x remote_nodes x token_bytes / (put.bw_efficiency x NIC),
                                   scale-up hop + tokens x ranks x token_bytes / put.forward_bytes_per_s)

    (each chip, by symmetry, also receives ``tokens x routing.ranks`` tokens over the scale-up links). The
    forwarding is done by a fixed number of SMs, not at the links' rate: ``put.forward_bytes_per_s`` is a rate
    (0: no such limit). Inside one node there is one stage, the scale-up stores of
    :func:`put_all_to_all_time`."""
    p = params or params_for(system)
    layout = group_layout(group_size, system, "packed")
    if layout.domains < 2:
        raise FablessError("a two-stage expert-parallel kernel spans nodes: for one node use put_all_to_all_time")
    out = _scale_out_fabric(system, layout.domains, p)
    up = _scale_up_fabric(system, layout.per_domain, p)
    nic_bytes_per_s = p.put_bw_efficiency * out.chip_bytes_per_s
    network = out.hop_latency_s + tokens * routing.remote_nodes * token_bytes / nic_bytes_per_s
    forward = (up.hop_latency_s + tokens * routing.ranks * token_bytes / p.put_forward_bytes_per_s
               if p.put_forward_bytes_per_s > 0 else 0.0)
    return p.put_latency_s + max(network, forward)


def group_collective_time_s(
    kind: str,
    bytes: Any,  # noqa: A002
    group_size: int,
    system: System,
    *,
    within_domain: bool | None = None,
    params: CollectiveParams | None = None,
    per_domain: int | None = None,
    group_shape: tuple[int, ...] | None = None,
) -> Any:
    """Seconds for a parallel plan's collective: ``within_domain=True`` packs the
    group into scale-up domains (tensor/expert parallel groups), ``False`` puts
    one member per domain (data/pipeline groups laid out across nodes), ``None``
    packs. ``per_domain`` (a divisor of the group) overrides both: that many members in
    each domain, as a strided group has (e.g. a dp group over tp-4 ranks on 8-chip nodes:
    2 per node). ``group_shape`` (optional, torus scale-up only): the group's extent along
    each torus dimension, i.e. which mesh axes it spans. Returns a float, or an array for an
    array of sizes; 0 for a group of 1."""
    placement = "spread" if within_domain is False else "packed"
    if group_size <= 1:
        return 0.0 if np.ndim(bytes) == 0 else np.zeros(np.shape(bytes))
    return collective_time(kind, bytes, group_size, system, placement=placement, params=params,
                           per_domain=per_domain, group_shape=group_shape).time_s
