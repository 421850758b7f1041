"""Predictions of the published communication measurements (category ``comm``).

``predict(row)`` takes one raw row of ``data/measurements/published.csv`` or
``published_comm.csv`` (a dict of strings) and returns the collective model's
prediction in the row's metric unit, or None when the row is out of scope.
``FIT_IDS_SHIPPED`` are the rows the calibrated parameters of ``data/perf/collectives.yaml``
were fitted on (:func:`calibrate` re-does that fit), ``FIT_IDS_SYSTEMS`` those a system preset's
own ``calibration.collectives`` was fitted on (AWS p5.48xlarge's EFA network); ``FIT_IDS`` is both,
and every other comm row is held out. A row is predicted with its system's own calibration on top
of the parameters given.

Rows and what they test:

* ``busbw (GB/s)``: nccl-tests / rccl-tests / torch all-reduce, all-gather,
  reduce-scatter on one node, one NVL72 rack or two nodes; ``algo=Ring`` in the config
  means NVLS was disabled, ``per_node=1`` one member per node.
* ``... time (us)``: the time of one collective of ``msg_size`` (small-message
  all-reduces inside and across nodes; TPU ``ppermute`` with ``kind=send_recv``; TPU7x all-gathers
  over 4 chips of a 2x2x1 host, ``shape`` the group's extent along the device torus).
* ``bottleneck bandwidth (GB/s, ...)``: DeepEP normal dispatch, bytes over the
  bottleneck fabric (NVLink inside a node, RDMA across) divided by the time.
* ``dispatch latency (us)``: DeepEP low-latency dispatch, an all-to-all of
  tokens x top-k copies of a token (FP8 + one fp32 scale per 128 channels, and a
  16-byte header per message).
* point-to-point bandwidth between two GPUs, one or both directions.

DeepEP's kernels are NVSHMEM puts, not NCCL: both kinds of DeepEP row are predicted by
:func:`fabless.perf.collectives.put_all_to_all_time` (bulk transfer at each fabric's
achievable bandwidth plus one fixed kernel cost, no protocol steps, no launch: DeepEP's
tests time the kernel on the GPU). The low-latency rows' heading says "pure RDMA", but
DeepEP V1 writes to NVLink-reachable peers with NVLink stores (``allow_nvlink_for_low_latency_mode``,
on by default in its tests/legacy/test_low_latency.py, deepseek-ai/DeepEP commit dd758caf),
and comm-331's own note (98 GB/s at ep 8, twice the 50 GB/s NIC) says the intranode peers
went over NVLink: the model sends them there.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable

from fabless.errors import FablessError
from fabless.hardware.presets import load_system
from fabless.hardware.schema import System
from fabless.perf.collectives import (CollectiveParams, collective_time, ep_normal_time, ep_routing, load_params, params_for,
                                      put_all_to_all_time)
from fabless.units import parse_bytes
from fabless.validate.core import load_rows, parse_config
from fabless.validate.fit import coordinate_descent

#: One-sided put all-to-all fit rows: DeepEP V1 run by others than its authors (published_moe_a2a.csv), chosen one
#: for one, by kind and expert-parallel size, for the four DeepEP rows of published.csv that were fit rows until
#: stop 46 (comm-328, -330, -332, -334: DeepEP's own tables, which shared/RESERVED.md keeps for independent checks,
#: held out now). The normal kernel's FP8 dispatch at ep 16 (DeepEP issue #493's run on 2 x 8 H200) for comm-328;
#: the low-latency dispatch at ep 16 and 64 (pplx-garden's DeepEP-CX7 column) for comm-332 and -334; comm-330 (the
#: normal kernel at ep 64) has no such run and no replacement. The eight stas00/ml-engineering all-reduce rows
#: (comm-294 ... -311) were fit rows until stop 45 for the same reason and are replaced below.
_FIT_IDS_PUBLISHED: frozenset[str] = frozenset({
    "moe-a2a-001",  # DeepEP normal dispatch (FP8), RDMA bandwidth, ep 16
    "moe-a2a-020", "moe-a2a-024",  # DeepEP low-latency dispatch, ep 16 and 64
})

#: Single-node all-reduce fit rows from non-reserved sources, chosen by rule before fitting: the Azure
#: AI-benchmarking-guide runs of the systems whose earlier fit rows were reserved (ND A100 v4, ND H200 v5), at the
#: earlier A100 rows' sizes (1 MiB, 64 MiB, 1 GiB); NVIDIA/nccl issue #1455's ring at 8 GPUs and NVLS at 6 GPUs
#: (for comm-307 and comm-311, the same algorithm and group size); and the one single-node small-message row of
#: published_comm.csv (comm-x-019, 1 KiB on 8 H100), which pins the launch against the per-step costs.
FIT_IDS_SINGLE_NODE: frozenset[str] = frozenset({
    "comm-fresh-001", "comm-fresh-003", "comm-fresh-004",  # A100 8-GPU all-reduce 1 MiB, 64 MiB, 1 GiB
    "comm-x-013", "comm-x-015", "comm-x-017",  # H200 8-GPU all-reduce (NVLS) 1 MiB, 64 MiB, 1 GiB
    "comm-nr-003", "comm-nr-005",  # H100 ring on 8 GPUs, NVLS on 6 GPUs, 4 GiB
    "comm-x-019",  # H100 8-GPU all-reduce 1 KiB
})

#: Fit rows of published_comm.csv, chosen before fitting (every other comm-x row is held out):
#: one NVLink 5 row at a large and one at a mid size, a multi-node small-message row (the
#: scale-out step cost), and two TPU ppermute rows (ICI efficiency and step cost). comm-x-028 (B200 over EFA) was
#: one until AWS's p6-b200 got its own preset (EFA, with p5-48xlarge's network calibration): it is held out now.
FIT_IDS_COMM_X: frozenset[str] = frozenset({
    "comm-x-002", "comm-x-007",  # GB200 4-GPU ring all-reduce 8 MiB, 8 GiB (NVLink 5)
    "comm-x-011",  # GB200 NVL72 72-GPU all-reduce 4 GiB (NVLS on NVLink 5; added after the baseline run)
    "comm-x-025",  # A100 2 nodes x 1 GPU all-reduce 8 B (HDR InfiniBand)
    # the file's two multi-node all-reduces at its largest size over 400G InfiniBand (B200 and H100, 2 x 8, 8 GiB):
    # the network's achievable fraction, which DeepEP's own rows pinned until stop 46 (their kernels have their own
    # since, put.bw_efficiency)
    "comm-x-029", "comm-x-030",
    "comm-x-032", "comm-x-033",  # TPU v5p ppermute 64 MiB, v6e ppermute 1 MiB
})

#: Fit rows of a system preset's own calibration (its ``calibration.collectives``, fitted by the
#: script its source names), not of data/perf/collectives.yaml: :func:`calibrate` leaves them out.
#: published_aws_p5_comm.csv: every other row in id order from the first; published_aws_p5_small_comm.csv: every
#: row (scripts/fit_p5_efa.py).
FIT_IDS_SYSTEMS: frozenset[str] = (frozenset(f"comm-p5-{i:03d}" for i in range(1, 116, 2))
                                   | frozenset(f"comm-p5s-{i:03d}" for i in range(1, 5)))

#: The rows data/perf/collectives.yaml is fitted on.
FIT_IDS_SHIPPED: frozenset[str] = _FIT_IDS_PUBLISHED | FIT_IDS_SINGLE_NODE | FIT_IDS_COMM_X

#: Rows a parameter is read from directly rather than fitted by :func:`calibrate` (collectives.yaml
#: ``generations.roce.bw_efficiency``: hccl_demo's bus bandwidth over the Gaudi 2 ports' line rate, comm-g-001).
FIT_IDS_DERIVED: frozenset[str] = frozenset({"comm-g-001"})

#: Rows ``scale_out.simple_step_overhead_s`` is fitted on alone (:func:`fit_scale_out_simple_step`), chosen by rule
#: before fitting: the 8 MiB all-reduce of each two-host InfiniBand cluster of 8 H100 in published_fresh13_comm.csv
#: (a Dell XE9680 pair and two hosts of another cluster, NVIDIA/nccl-tests issue #309), the mid size at which a
#: network Simple step is the largest part of the time. Until stop 46 the value was a leftover of a fit in which
#: DeepEP's own rows, reserved since, stood in for NCCL all-to-alls.
FIT_IDS_SIMPLE_STEP: frozenset[str] = frozenset({"comm-fresh13-012", "comm-fresh13-018"})

#: scale_out.simple_step_overhead_s grid of :func:`fit_scale_out_simple_step` (0 to 50 us, step 0.25 us).
SIMPLE_STEP_GRID_S: tuple[float, ...] = tuple(round(0.25e-6 * i, 10) for i in range(201))

#: Rows ``nvls.tree_bw_efficiency`` is fitted on alone (:func:`fit_nvls_tree`), chosen by rule: every fit row of another
#: set whose time the NVLS phases of an NVLS-tree all-reduce set, two hosts of 8 H100 at 8 GiB: comm-x-030 over
#: InfiniBand (a fit row of the shipped values, which no other value moves) and comm-p5-009 over EFA (a fit row of the
#: p5.48xlarge preset).
FIT_IDS_NVLS_TREE: frozenset[str] = frozenset({"comm-x-030", "comm-p5-009"})

#: Rows ``generations.nvlink5.a2a_bw_efficiency`` is fitted on alone (:func:`fit_nvlink5_a2a`), chosen by rule: every
#: other all-to-all row of published_fresh5_kc.csv in id order from the first (nccl-tests inside OCI GB200 NVL72 racks,
#: 4, 8 and 64 GPUs), the only all-to-all measurements on NVLink 5; the other three are held out.
FIT_IDS_A2A_NVLINK5: frozenset[str] = frozenset({"comm-fresh5-005", "comm-fresh5-007", "comm-fresh5-009"})

#: Grid of the efficiencies fitted alone (:func:`fit_nvls_tree`, :func:`fit_nvlink5_a2a`): 0.300 to 1.000, step 0.001.
EFFICIENCY_GRID: tuple[float, ...] = tuple(round(0.3 + 0.001 * i, 3) for i in range(701))

#: Every fit row; all other comm rows are held out.
FIT_IDS: frozenset[str] = (FIT_IDS_SHIPPED | FIT_IDS_SYSTEMS | FIT_IDS_DERIVED | FIT_IDS_SIMPLE_STEP | FIT_IDS_NVLS_TREE
                           | FIT_IDS_A2A_NVLINK5)

#: Hardware text (lower case, first match wins) -> system preset, and what to change on it.
HARDWARE_SYSTEMS: list[tuple[str, str, dict]] = [
    ("h800", "dgx-h100", {"nvlink_bidir_gb_s": 400.0, "nic_gbit_s": 400.0}),
    ("p5.48xlarge", "p5-48xlarge", {}),  # EFA, not InfiniBand: the preset carries its own network calibration
    ("p6-b200", "p6-b200", {}),  # EFA as well, with p5-48xlarge's network calibration
    ("gb200", "gb200-nvl72", {}),
    ("b200", "hgx-b200", {}),
    ("mi300x", "mi300x-8", {}),
    ("tpu7x 2x2x1", "tpu-v7-2x2x1", {}),  # Ironwood devices (chiplets): see the preset
    ("tpu v5p", "tpu-v5p-pod", {}),
    # a group inside a slice of the v5e pod (shape= in the config); the key names the slice rows only, so the
    # single-host v5litepod-8 rows (comm-fresh4-009/010) stay unmapped as they were scored
    ("tpu v5e slice", "tpu-v5e-256", {}),
    ("tpu v6e", "tpu-v6e-256", {}),
    ("gaudi 2", "gaudi2-8", {}),
    ("h200", "dgx-h200", {}),
    ("h100", "dgx-h100", {}),
    ("a100", "dgx-a100", {}),
]
#: H800 = H100 with 8 of 18 NVLinks: 400 GB/s bidirectional (DeepSeek-V3 issue #28,
#: maintainer reply, quoted in the notes of comm-341), CX7 400 Gbit/s IB per GPU (rows' hardware text).

#: bytes of one FP8 token with its fp32 scale per 128 channels (DeepEP's dispatch format).
def _fp8_token_bytes(hidden: int) -> float:
    return hidden * 1.0 + hidden / 128 * 4.0


#: Experts of DeepEP's internode test when a row does not say (tests/test_internode.py --num-experts default 256,
#: DeepSeek-V3's routed experts, the setting its tables follow).
DEEPEP_TEST_EXPERTS = 256

#: The low-latency dispatch message's header: the token's index at the source and 3 reserved
#: ints, one int4 in front of the FP8 token (deepseek-ai/DeepEP csrc/kernels/legacy/internode_ll.cu,
#: commit dd758caf451848bd150e1046af3d0a73e5fff38d; tests/legacy/test_low_latency.py counts hidden + hidden/128 x 4 + 16 bytes).
LL_HEADER_BYTES = 16


#: A size large enough that latency is a small part of the time, for bandwidth tests that
#: stream many copies back to back (p2pBandwidthLatencyTest enqueues them without a sync).
LARGE_BYTES = float(2**30)

Resolver = Callable[[str], System]


def system_for_row(row: dict, resolver: Resolver | None = None) -> System | None:
    """The system preset a row's hardware text names, adjusted where the text says
    how it differs (H800); None when no preset matches."""
    resolver = resolver or load_system
    text = str(row.get("hardware", "")).lower()
    for key, preset, change in HARDWARE_SYSTEMS:
        if key in text:
            try:
                system = resolver(preset)
            except FablessError:
                return None
            return _adjust(system, **change)
    return None


def _adjust(system: System, nvlink_bidir_gb_s: float | None = None, nic_gbit_s: float | None = None,
            nvls: bool | None = None) -> System:
    chip = system.chip
    if nvlink_bidir_gb_s is not None and chip.links.scale_up is not None:
        su = chip.links.scale_up.model_copy(update={"bidir_gb_s": nvlink_bidir_gb_s, "link_bidir_gb_s": None, "links": None})
        chip = chip.model_copy(update={"links": chip.links.model_copy(update={"scale_up": su}),
                                       "name": chip.name + "-nvlink" + str(int(nvlink_bidir_gb_s))})
    update: dict = {"chip": chip}
    if nic_gbit_s is not None and system.scale_out is not None:
        update["scale_out"] = system.scale_out.model_copy(update={"bandwidth_gbit_s_per_chip": nic_gbit_s})
    if nvls is not None:
        update["scale_up"] = system.scale_up.model_copy(update={"in_network_reduction": nvls and system.scale_up.in_network_reduction})
    return system.model_copy(update=update)


def _kind_of(text: str) -> str | None:
    t = text.lower()
    for key, kind in (("all_reduce", "all_reduce"), ("all-reduce", "all_reduce"), ("all_gather", "all_gather"),
                      ("reduce_scatter", "reduce_scatter"), ("all-to-all", "all_to_all"), ("all_to_all", "all_to_all"),
                      ("ppermute", "send_recv"), ("send_recv", "send_recv")):
        if key in t:
            return kind
    return None


def predict(row: dict, *, params: CollectiveParams | None = None, resolver: Resolver | None = None) -> float | None:
    """The model's value for one comm row, in the row's metric unit; None if out of scope."""
    if str(row.get("category", "")).strip() != "comm":
        return None
    system = system_for_row(row, resolver)
    if system is None:
        return None
    # the system file's own collective calibration (an EFA network, say) over the given parameters
    p = params_for(system, params or load_params())
    cfg = parse_config(row.get("config", ""))
    metric = str(row.get("metric", "")).lower()
    what = str(row.get("model_or_kernel", ""))
    try:
        n = int(float(row.get("n_chips") or 0))
    except ValueError:
        return None

    placement = "spread" if cfg.get("per_node") == "1" and n > 1 else "auto"
    if metric.startswith("busbw"):
        kind = _kind_of(what)
        if kind is None or "msg_size" not in cfg:
            return None
        if cfg.get("algo", "").lower() == "ring":  # NVLS disabled in this run
            system = _adjust(system, nvls=False)
        size = parse_bytes(cfg["msg_size"])
        return collective_time(kind, size, n, system, placement=placement, params=p).busbw_bytes_per_s / 1e9

    if metric.endswith("time (us)") and "msg_size" in cfg:
        kind = cfg.get("kind") or _kind_of(what)
        if kind is None:
            return None
        size = parse_bytes(cfg["msg_size"])
        # shape=AxBxC: the group's extent along each torus dimension (which mesh axes it spans)
        shape = tuple(int(x) for x in cfg["shape"].split("x")) if cfg.get("shape") else None
        return collective_time(kind, size, n, system, placement=placement, params=p, group_shape=shape).time_s * 1e6

    if "deepep" in metric or "deepep" in what.lower() or "all-to-all" in what.lower():
        try:
            ep = int(cfg["ep"])
            tokens = int(cfg["tokens_per_batch"])
            hidden = int(cfg["hidden"])
            topk = int(cfg["topk_experts"])
        except (KeyError, ValueError):
            return None
        transport = cfg.get("transport", "").lower()
        if "ibrc" in transport or "cpu_proxy" in transport:
            # a CPU thread posts each RDMA write (NVSHMEM's IBRC, UCCL-EP's proxies): its per-message posting
            # and polling are not in the one-sided put model, whose GPU posts its own writes (IBGDA)
            return None
        low_latency = metric.startswith(("dispatch latency (us)", "combine latency (us)"))
        combine = metric.startswith("combine latency (us)")
        # A BF16 dispatch or combine moves 2 bytes a channel, no scales; the low-latency combine returns each
        # expert's output in BF16 (deepseek-ai/DeepEP tests/legacy/test_low_latency.py counts hidden x 2 bytes)
        bf16 = combine or "bf16" in str(row.get("precision", "")).lower()
        token = 2.0 * hidden if bf16 else _fp8_token_bytes(hidden)
        if low_latency:
            # one copy per (token, expert), spread over the ep ranks; the dispatch message carries a 16-byte
            # header (source index) in front of the token, as its test counts it
            size = tokens * topk * (token + (0 if combine else LL_HEADER_BYTES))
            return put_all_to_all_time(size, ep, system, params=p).time_s * 1e6
        if not metric.startswith("bottleneck bandwidth"):
            return None
        m = min(ep, system.scale_up.size)
        if m == ep:  # one node: the intranode kernel, one stage of scale-up stores
            size = tokens * topk * token
            moved = (m - 1) / ep * size
            return moved / put_all_to_all_time(size, ep, system, params=p).time_s / 1e9 if moved > 0 else None
        # the two-stage internode kernel: once per node over the network, then forwarded within it. DeepEP's
        # test counts a token's bytes once per node its experts are on, its own node included ('RDMA'), and
        # once per chip ('NVL'), over the kernel's time (tests/test_internode.py num_rdma_token_sent, recv_x);
        # its experts: the test's 256 unless the row says, top-k groups min(nodes, the row's)
        routing = ep_routing(topk, int(cfg.get("num_experts", DEEPEP_TEST_EXPERTS)), ep, m,
                             int(cfg["topk_groups"]) if "topk_groups" in cfg else None)
        t = ep_normal_time(token, tokens, routing, ep, system, params=p)
        per_token = routing.nodes if "rdma" in metric else routing.ranks
        return tokens * per_token * token / t / 1e9

    if "p2p" in metric or "nvlink bandwidth" in metric:
        size = LARGE_BYTES  # both tests stream back-to-back copies: latency is hidden
        one_way = collective_time("send_recv", size, 2, system, params=p).algbw_bytes_per_s / 1e9
        return 2 * one_way if "bidirectional" in metric else one_way
    return None


# ----------------------------------------------------------------------------- calibration


def comm_rows(path: str | None = None) -> list[dict]:
    """The comm rows of the shipped measurement set (every ``data/measurements/*.csv``:
    published.csv and published_comm.csv), or of the one file ``path``."""
    if path is None:
        return [r for r in load_rows() if r.get("category") == "comm"]
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if r.get("category") == "comm"]


#: Collective parameters calibrated outside :func:`calibrate`, with what fits them: on rows of another category
#: (no collective measurement of that fabric is public), or alone on comm rows that no row of calibrate()'s fit
#: set moves with.
CALIBRATED_ELSEWHERE: dict[str, str] = {
    "scale_out__simple_step_overhead_s": "fabless.validate.comm.fit_scale_out_simple_step (FIT_IDS_SIMPLE_STEP)",
    "nvls__tree_bw_efficiency": "fabless.validate.comm.fit_nvls_tree (FIT_IDS_NVLS_TREE)",
    "generations__nvlink5__a2a_bw_efficiency": "fabless.validate.comm.fit_nvlink5_a2a (FIT_IDS_A2A_NVLINK5)",
    "generations__neuronlink__simple_step_overhead_s": "scripts/fit_neuronlink.py (trn1 and inf2 decode fit rows)",
    "generations__neuronlink__launch_latency_s": "scripts/fit_neuronlink.py (trn1 and inf2 decode fit rows)",
}

#: What calibrate() fits, with bounds.
CALIBRATED: dict[str, tuple[float, float]] = {
    "launch_latency_s": (1e-7, 2e-4),
    "scale_up__bw_efficiency": (0.3, 1.0),
    "scale_up__simple_step_overhead_s": (0.0, 5e-5),
    "scale_up__ll_step_overhead_s": (0.0, 2e-5),
    "scale_up__ll128_step_overhead_s": (0.0, 2e-5),
    "scale_out__bw_efficiency": (0.3, 1.0),
    "scale_out__ll_step_overhead_s": (0.0, 3e-5),
    "nvls__bw_efficiency": (0.3, 1.0),
    "nvls__latency_s": (0.0, 3e-4),
    "put__latency_s": (0.0, 2e-4),
    "put__bw_efficiency": (0.3, 1.0),
    "put__forward_bytes_per_s": (1e10, 1e12),
    "generations__nvlink3__bw_efficiency": (0.3, 1.0),
    "generations__nvlink3__ll_step_overhead_s": (0.0, 2e-5),
    "generations__nvlink3__ll128_step_overhead_s": (0.0, 2e-5),
    "generations__nvlink5__bw_efficiency": (0.3, 1.0),
    "generations__nvlink5__simple_step_overhead_s": (0.0, 5e-5),
    "generations__nvlink5__nvls_bw_efficiency": (0.3, 1.0),
    "generations__ici__bw_efficiency": (0.3, 1.0),
    "generations__ici__simple_step_overhead_s": (0.0, 5e-5),
}
#: Bounds of the parameters fitted elsewhere (CALIBRATED_ELSEWHERE) that a user's own sweep may fit too
#: (fabless.validate.measured.fit).
BOUNDS_ELSEWHERE: dict[str, tuple[float, float]] = {"scale_out__simple_step_overhead_s": (0.0, 5e-5)}
#: Taken equal to another parameter (no separate data to fit them on).
TIED = {"generations__ici__ll_step_overhead_s": "generations__ici__simple_step_overhead_s"}


def _log_errors(rows: Iterable[dict], params: CollectiveParams, resolver: Resolver | None) -> list[float]:
    out = []
    for r in rows:
        pred = predict(r, params=params, resolver=resolver)
        if pred is None or pred <= 0:
            continue
        out.append(math.log(pred / float(r["value"])))
    return out


#: Launch latencies (s) the fit also starts from, besides the given start: the loss has more than one minimum
#: (the launch trades against the per-step costs), and coordinate descent keeps to the one nearest its start.
LAUNCH_STARTS_S: tuple[float, ...] = (5e-6, 8e-6, 1.2e-5)
#: The scale-up LL and LL128 step costs (s) at those extra starts: low enough that every protocol wins somewhere,
#: so that the descent sees each step cost (a protocol that never wins leaves its cost flat in the loss).
_PROTOCOL_STEP_STARTS_S = {"scale_up__ll_step_overhead_s": 5e-7, "scale_up__ll128_step_overhead_s": 1e-6}


def calibrate(rows: list[dict] | None = None, *, start: CollectiveParams | None = None,
              resolver: Resolver | None = None, sweeps: int = 12) -> tuple[CollectiveParams, float]:
    """Fit the CALIBRATED parameters on the FIT_IDS_SHIPPED rows: coordinate descent on the
    sum of |log(predicted / measured)|, from ``start`` (the shipped values by default) and from it with
    each of LAUNCH_STARTS_S; returns the parameters and the loss of the best."""
    rows = [r for r in (rows if rows is not None else comm_rows()) if r["id"] in FIT_IDS_SHIPPED]
    p0 = start or load_params()
    starts = [p0, *(p0.replace(launch_latency_s=s, **_PROTOCOL_STEP_STARTS_S) for s in LAUNCH_STARTS_S)]
    return min((_descend(rows, p, resolver, sweeps) for p in starts), key=lambda fit: fit[1])  # a tie keeps ``start``


def _fit_loss(rows: list[dict], q: CollectiveParams, resolver: Resolver | None, *, squared: bool = False) -> float:
    """The fits' objective: the rows' sum of |log(predicted / measured)| (:func:`calibrate`), or of its square
    (``squared``: :func:`_fit_alone`), and 10 for each row ``q`` cannot predict."""
    errs = _log_errors(rows, q, resolver)
    return sum(e * e if squared else abs(e) for e in errs) + 10.0 * (len(rows) - len(errs))


def _descend(rows: list[dict], p: CollectiveParams, resolver: Resolver | None, sweeps: int) -> tuple[CollectiveParams, float]:
    """Coordinate descent from ``p`` on :func:`_fit_loss`."""

    def with_ties(q: CollectiveParams) -> CollectiveParams:
        flat = q.flat()
        return q.replace(**{k: flat[v] for k, v in TIED.items()})

    def build(values: dict[str, float]) -> CollectiveParams:
        return with_ties(p.replace(**values))

    values, best = coordinate_descent(lambda v: _fit_loss(rows, build(v), resolver), with_ties(p).flat(), CALIBRATED,
                                      sweeps=sweeps)
    return build(values), best


def _fit_alone(key: str, grid: tuple[float, ...], ids: frozenset[str], rows: list[dict] | None,
               params: CollectiveParams | None, resolver: Resolver | None) -> float:
    """The value of parameter ``key`` on ``grid`` of least sum of squared log(predicted / measured) on the ``ids`` rows,
    every other parameter held at ``params`` (the shipped values by default), the first of equals; 10 for each row
    it cannot predict. Squared, not absolute as in :func:`calibrate`: on two rows that err in opposite directions
    every value between their own zeros has the same absolute sum, and the squared one is the single value there
    that splits their misses."""
    rows = [r for r in (rows if rows is not None else comm_rows()) if r["id"] in ids]
    p = params or load_params()
    return min(grid, key=lambda v: _fit_loss(rows, p.replace(**{key: v}), resolver, squared=True))


def fit_scale_out_simple_step(rows: list[dict] | None = None, *, params: CollectiveParams | None = None,
                              resolver: Resolver | None = None) -> float:
    """``scale_out.simple_step_overhead_s`` (s) on SIMPLE_STEP_GRID_S fitted alone on the FIT_IDS_SIMPLE_STEP rows
    (:func:`_fit_alone`). Fitted after :func:`calibrate` and :func:`fit_nvls_tree`: no row of calibrate's fit set is
    sensitive to it, and its rows run NVLS-tree."""
    return _fit_alone("scale_out__simple_step_overhead_s", SIMPLE_STEP_GRID_S, FIT_IDS_SIMPLE_STEP, rows, params,
                      resolver)


def fit_nvls_tree(rows: list[dict] | None = None, *, params: CollectiveParams | None = None,
                  resolver: Resolver | None = None) -> float:
    """``nvls.tree_bw_efficiency`` on EFFICIENCY_GRID fitted alone on the FIT_IDS_NVLS_TREE rows (:func:`_fit_alone`),
    after :func:`calibrate`: no value that fit sets moves these rows' NVLS phases."""
    return _fit_alone("nvls__tree_bw_efficiency", EFFICIENCY_GRID, FIT_IDS_NVLS_TREE, rows, params, resolver)


def fit_nvlink5_a2a(rows: list[dict] | None = None, *, params: CollectiveParams | None = None,
                    resolver: Resolver | None = None) -> float:
    """``generations.nvlink5.a2a_bw_efficiency`` on EFFICIENCY_GRID fitted alone on the FIT_IDS_A2A_NVLINK5 rows
    (:func:`_fit_alone`), after :func:`calibrate`: no row of its fit set is an all-to-all on NVLink 5, and these rows
    are bound by that bandwidth alone (4-16 GiB)."""
    return _fit_alone("generations__nvlink5__a2a_bw_efficiency", EFFICIENCY_GRID, FIT_IDS_A2A_NVLINK5, rows, params,
                      resolver)


def error_table(rows: list[dict] | None = None, *, params: CollectiveParams | None = None,
                resolver: Resolver | None = None) -> list[dict]:
    """One entry per comm row: id, metric, measured, predicted, relative error, fit or held out."""
    out = []
    for r in rows if rows is not None else comm_rows():
        pred = predict(r, params=params, resolver=resolver)
        meas = float(r["value"])
        out.append({
            "id": r["id"], "metric": r["metric"], "n_chips": r["n_chips"], "config": r["config"],
            "measured": meas, "predicted": pred,
            "error": None if pred is None else pred / meas - 1,
            "set": "fit" if r["id"] in FIT_IDS else "held_out",
        })
    return out

