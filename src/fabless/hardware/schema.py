"""Validated, frozen descriptions of chips and systems.

Units are in the field names: ``_mhz``, ``_gb_s`` (1e9 bytes/s), ``_gbit_s``
(1e9 bits/s, as NICs are sold), ``_kib``, ``_gb`` (1e9 bytes), ``_gib``
(2**30 bytes), ``_w``, ``_usd``, ``_mm2``. Properties with SI units
(``_bytes``, ``_bytes_per_s``, ``_flops``, ``_hz``) are what the models use.

Every number may carry a source (see :mod:`fabless.provenance`); the shipped
presets give one for every number.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from fabless import bounds

from fabless.provenance import Source

DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "fp4")
Dtype = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]

#: Process nodes the cost model knows (TSMC naming; 4N/N4P map to N4, N3E/N3P to N3).
PROCESS_NODES = ("N16", "N12", "N7", "N6", "N5", "N4", "N3", "N2")
ProcessNode = Literal["N16", "N12", "N7", "N6", "N5", "N4", "N3", "N2"]

#: Bytes per element of each datatype.
DTYPE_BYTES = {
    "fp64": 8.0, "fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0,
    "fp8": 1.0, "int8": 1.0, "int4": 0.5, "fp4": 0.5,
}


class Frozen(BaseModel):
    """Base for every schema model: immutable, unknown fields are errors, and every number is
    finite and within :data:`fabless.bounds.MAX_MAGNITUDE` (inf, NaN and 1e308 are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        return bounds.check_magnitudes(value)


class PeakTflops(Frozen):
    """Dense peak throughput per datatype in TFLOP/s (TOP/s for integers).

    ``None`` means the chip has no matrix path for that datatype. Figures
    "with sparsity" are never entered here: they are 2x the dense figure."""

    fp64: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)
    fp32: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)
    tf32: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)
    bf16: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)
    fp16: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)
    fp8: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)
    int8: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)
    int4: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)
    fp4: PositiveFloat | None = Field(None, le=bounds.MAX_PEAK_TFLOPS)

    def get(self, dtype: str) -> float | None:
        """Peak TFLOP/s for ``dtype``, or None where it is not supported."""
        return getattr(self, dtype)


class MatrixUnits(Frozen):
    """The matrix engines: GPU tensor cores, systolic arrays (TPU MXU,
    Trainium PE array, MTIA), or a CPU's matrix/SIMD FMA pipes.

    ``macs_per_cycle`` is per unit, dense, by datatype; for a systolic array it
    is rows x cols at the array's native datatype."""

    kind: Literal["tensor_core", "systolic_array", "cpu_simd"]
    count: PositiveInt = Field(le=bounds.MAX_UNITS, description="matrix units on the whole chip")
    rows: PositiveInt | None = Field(None, description="systolic array rows (None for tensor cores)")
    cols: PositiveInt | None = Field(None, description="systolic array columns")
    macs_per_cycle: dict[Dtype, PositiveFloat] = Field(description="dense MACs per unit per cycle, by datatype")
    reshape_factor: PositiveInt | None = Field(
        None, le=16, description="a reconfigurable systolic array: besides rows x cols it also runs as (rows/f) x "
        "(cols*f) and (rows*f) x (cols/f), the same MACs, and each GEMM takes the fastest (Gaudi's MME: 256 x 256, "
        "128 x 512 or 512 x 128); None or 1: one fixed shape")
    physical_split: PositiveInt | None = Field(
        None, le=16, description="each array is this many physical arrays, each of which takes an independent product "
        "of a batched matmul on its own, in the shape (rows/s) x cols or rows x (cols/s), count x s of them (Gaudi 2: "
        "2 logical MMEs of 4 physical ones, 128 x 256 or 256 x 128); None or 1: the arrays take products whole")

    @model_validator(mode="after")
    def _reshape_divides(self) -> MatrixUnits:
        # both fields cut a systolic array into equal parts: it must have rows and cols they divide
        for name, f in (("reshape_factor", self.reshape_factor or 1), ("physical_split", self.physical_split or 1)):
            if f <= 1:
                continue
            if self.kind != "systolic_array" or not self.rows or not self.cols:
                raise ValueError(f"{name} applies to a systolic_array with rows and cols; leave it out otherwise")
            if self.rows % f or self.cols % f:
                raise ValueError(f"{name} {f} must divide rows ({self.rows}) and cols ({self.cols})")
        return self


class VectorUnits(Frozen):
    """The non-matrix datapath (CUDA cores, TPU VPU, Trainium vector engine)."""

    fp32_flops_per_cycle: PositiveFloat = Field(description="whole-chip fp32 FLOP per cycle (FMA = 2)")


class Compute(Frozen):
    cores: PositiveInt = Field(le=bounds.MAX_UNITS, description="SMs, TensorCores, NeuronCores or CPU cores enabled")
    core_kind: str = Field(description="what a core is on this chip: SM, TensorCore, NeuronCore, ...")
    matrix_units: MatrixUnits | None = None
    vector_units: VectorUnits | None = None
    peak_tflops: PeakTflops
    peak_note: str | None = Field(
        None, description="why peak from units x MACs x clock differs from the stated peak, if it does"
    )


class Clock(Frozen):
    boost_mhz: float = Field(ge=bounds.CLOCK_MHZ[0], le=bounds.CLOCK_MHZ[1], description="the clock the vendor's peak figures use")
    max_boost_mhz: float | None = Field(None, ge=bounds.CLOCK_MHZ[0], le=bounds.CLOCK_MHZ[1], description="highest boost clock, if above the peak-basis clock")
    base_mhz: float | None = Field(None, ge=bounds.CLOCK_MHZ[0], le=bounds.CLOCK_MHZ[1])
    sustained_mhz: float | None = Field(
        None, ge=bounds.CLOCK_MHZ[0], le=bounds.CLOCK_MHZ[1], description="clock held under a sustained matrix load, where measured"
    )


class MemoryLevel(Frozen):
    """One level of on-chip memory (registers, L1/shared, L2, VMEM, SBUF, ...)."""

    name: str
    capacity_kib: PositiveFloat = Field(le=bounds.MAX_CAPACITY_GB * 1e6, description="capacity of one instance, KiB")
    instances: PositiveInt = Field(1, le=bounds.MAX_UNITS, description="how many instances (cores for a per-core level)")
    scope: Literal["core", "chip"] = Field(description="per core, or shared by the chip")
    bandwidth_gb_s: PositiveFloat | None = Field(None, le=bounds.MAX_BANDWIDTH_GB_S, description="chip-wide aggregate, GB/s")

    @property
    def total_bytes(self) -> float:
        return self.capacity_kib * 1024 * self.instances


class Hbm(Frozen):
    """Off-chip main memory (HBM, or LPDDR/DDR for chips that use it)."""

    generation: str = Field(description="HBM2e, HBM3, HBM3e, HBM4, LPDDR5, DDR5 ...")
    stacks: PositiveInt | None = Field(None, description="HBM stacks (memory channels for DDR)")
    capacity_gb: PositiveFloat | None = Field(None, le=bounds.MAX_CAPACITY_GB, description="capacity in 1e9 bytes, as most vendors state it")
    capacity_gib: PositiveFloat | None = Field(None, le=bounds.MAX_CAPACITY_GB, description="capacity in 2**30 bytes, where the vendor states GiB")
    bandwidth_gb_s: PositiveFloat = Field(le=bounds.MAX_BANDWIDTH_GB_S, description="peak bandwidth, 1e9 bytes/s")
    per_stack_gb_s: PositiveFloat | None = Field(None, le=bounds.MAX_BANDWIDTH_GB_S, description="peak bandwidth of one stack")
    per_stack_capacity_gb: PositiveFloat | None = None

    @model_validator(mode="after")
    def _one_capacity(self) -> Hbm:
        if (self.capacity_gb is None) == (self.capacity_gib is None):
            raise ValueError("give exactly one of capacity_gb (1e9 bytes) or capacity_gib (2**30 bytes)")
        return self

    @property
    def capacity_bytes(self) -> float:
        return self.capacity_gb * 1e9 if self.capacity_gb is not None else self.capacity_gib * 2**30

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.bandwidth_gb_s * 1e9


class Memory(Frozen):
    on_chip: list[MemoryLevel] = Field(default_factory=list)
    hbm: Hbm

    def level(self, name: str) -> MemoryLevel | None:
        return next((lv for lv in self.on_chip if lv.name == name), None)

    @property
    def on_chip_bytes(self) -> float:
        """All on-chip SRAM (excluding registers), bytes."""
        return sum(lv.total_bytes for lv in self.on_chip if lv.name != "registers")


class ScaleUp(Frozen):
    """Chip-to-chip links inside the scale-up domain (NVLink, ICI, NeuronLink, Infinity Fabric)."""

    technology: str
    links: PositiveInt | None = None
    link_bidir_gb_s: PositiveFloat | None = Field(None, le=bounds.MAX_BANDWIDTH_GB_S, description="one link, both directions, GB/s")
    bidir_gb_s: PositiveFloat = Field(le=bounds.MAX_BANDWIDTH_GB_S, description="all links of one chip, both directions, GB/s")

    @property
    def unidir_bytes_per_s(self) -> float:
        """What one chip can send (or receive) per second over all its links."""
        return self.bidir_gb_s * 1e9 / 2


class ScaleOut(Frozen):
    """The NIC bandwidth one chip gets for the scale-out network."""

    technology: str
    bandwidth_gbit_s: PositiveFloat = Field(le=bounds.MAX_BANDWIDTH_GB_S * 8, description="per chip, one direction, Gbit/s")

    @property
    def bytes_per_s(self) -> float:
        return self.bandwidth_gbit_s * 1e9 / 8


class Links(Frozen):
    scale_up: ScaleUp | None = None
    scale_out: ScaleOut | None = None
    host: str | None = None


class Physical(Frozen):
    process_node: ProcessNode
    process_detail: str | None = Field(None, description="the foundry's own name, e.g. TSMC 4N")
    dies: PositiveInt = Field(1, description="compute dies in the package")
    die_area_mm2: PositiveFloat | None = Field(None, description="area of one compute die")
    io_die_area_mm2: PositiveFloat | None = Field(None, description="total area of I/O or base dies, if any")
    transistors_billion: PositiveFloat | None = None
    tdp_w: PositiveFloat | None = None
    packaging: str | None = Field(None, description="CoWoS-S, CoWoS-L, InFO, organic ...")


class Price(Frozen):
    """A design file's own price (a custom chip's, e.g. the unit cost ``fabless explore``
    writes). Shipped chips' prices live in ``data/economics/prices.yaml`` with tier and
    date (:mod:`fabless.hardware.prices`); a preset carries none."""

    list_usd: PositiveFloat | None = Field(None, description="purchase price of one chip (module)")
    cloud_usd_per_hr: PositiveFloat | None = Field(None, description="on-demand rental, per chip-hour")
    cloud_offer: str | None = Field(None, description="which offer the rental price is")


class ChipCalibration(Frozen):
    """Performance parameters fitted to this chip's own measurements, in preference to its
    family's values in ``data/perf/families.yaml`` (same names and meanings; each optional),
    and the estimate engine's ``framework_kernel_efficiency`` for this chip.

    ``fabless calibrate`` writes this section with each value's provenance (``source``: the
    files and date it was fitted on, ``confidence: calibrated``); a hand-written one works the
    same way. :meth:`fabless.perf.params.ChipParams.from_chip` reads it."""

    mma_efficiency: float | None = Field(None, gt=0, le=1, description="fraction of the dense peak a well-tiled GEMM main loop sustains")
    sustained_clock_fraction: float | None = Field(None, gt=0, le=1, description="sustained / peak-basis clock (where clock.sustained_mhz is absent)")
    hbm_efficiency: float | None = Field(None, gt=0, le=1, description="achievable fraction of peak HBM bandwidth")
    launch_overhead_s: float | None = Field(None, ge=0, description="fixed time per kernel, seconds")
    operand_bytes_per_cycle_per_core: PositiveFloat | None = Field(None, description="operand bytes per cycle the shared cache delivers to one core")
    attention_mma_ratio: float | None = Field(None, gt=0, description="flash-attention inner loop rate / GEMM main loop rate (times mma_efficiency at most 1)")
    attention_overhead_blocks: float | None = Field(None, ge=0, description="fixed cost per query tile, in KV-block iterations of head dimension 128")
    attention_block: PositiveFloat | None = Field(None, description="flash-attention query and KV block size")
    attention_softmax_cycles: float | None = Field(None, ge=0, description="cycles of one core per attention score for the softmax work the matrix products cannot hide")
    attention_bwd_time_ratio: float | None = Field(None, gt=0, description="a flash-attention backward's time over the forward's at the same shape")
    norm_bwd_partials_per_core: float | None = Field(None, ge=0, description="rows of fp32 partial gain gradients a fused norm backward writes per core (0: one kernel, no partials)")
    tile_sram_fraction: float | None = Field(None, gt=0, le=1, description="part of a core's scratchpad for GEMM operand tiles")
    vector_efficiency: float | None = Field(None, gt=0, le=1, description="fraction of the vector peak elementwise kernels reach")
    scratchpad_bytes_if_unknown: PositiveFloat | None = Field(None, description="per-core scratchpad assumed where none is listed, bytes")
    mma_8bit_ratio: float | None = Field(None, gt=0, le=1, description="8-bit GEMM main loop / 16-bit, each as a fraction of its own peak")
    tile_overhead_s: float | None = Field(None, ge=0, description="GEMM time per wave of output tiles outside the main loop (prologue and epilogue), seconds")
    gemm_exposed_steps: float | None = Field(None, ge=0, le=4, description="K steps (of 64 16-bit elements) of a GEMM tile's main loop that its pipeline does not overlap: a pipeline's first loads before any math and last math after the last load")
    framework_kernel_efficiency: float | None = Field(
        None, gt=0, le=1, description="a framework step's share of the kernel models' compute rate on this chip "
        "(the software stack's, or data/estimate/engine.yaml's, otherwise)")

    def values(self) -> dict[str, float]:
        """The family parameters given, by name (``framework_kernel_efficiency`` is the
        estimate engine's, not a family's: it replaces the software stack's, see
        :func:`fabless.estimate.software.with_chip_calibration`)."""
        return {k: float(v) for k, v in self.model_dump(exclude_none=True).items() if k != "framework_kernel_efficiency"}


class Chip(Frozen):
    """One accelerator (or CPU) as a buyer or an architect compares it."""

    name: str = Field(description="preset id, e.g. h100-sxm")
    display_name: str
    vendor: str
    kind: Literal["gpu", "tpu", "asic", "cpu"]
    architecture: str | None = None
    perf_family: str | None = Field(
        None, description="the family of data/perf/families.yaml whose parameters the operator models use "
        "(e.g. nvidia-hopper); absent: default-<matrix-unit kind> (default-gpu, default-systolic, default-cpu_simd)")
    launch: str | None = None
    compute: Compute
    clock: Clock
    memory: Memory
    links: Links = Links()
    physical: Physical
    price: Price = Price()
    calibration: ChipCalibration | None = Field(
        None, description="performance parameters fitted to this chip's measurements (override its family's)")
    notes: list[str] = Field(default_factory=list)
    provenance: dict[str, Source] = Field(default_factory=dict)

    def peak_flops(self, dtype: str) -> float | None:
        """Dense peak FLOP/s for ``dtype`` (None if unsupported)."""
        tflops = self.compute.peak_tflops.get(dtype)
        return None if tflops is None else tflops * 1e12

    def derived_peak_tflops(self, dtype: str) -> float | None:
        """units x MACs/cycle x 2 x boost clock, or None where the units are not described."""
        mu = self.compute.matrix_units
        if mu is None or dtype not in mu.macs_per_cycle:
            return None
        return mu.count * mu.macs_per_cycle[dtype] * 2 * self.clock.boost_mhz * 1e6 / 1e12

    def source_of(self, path: str) -> Source | None:
        return self.provenance.get(path)


class ScaleUpDomain(Frozen):
    """The chips joined by the fast fabric (an NVLink domain, a TPU slice, a Trn2 UltraServer)."""

    size: PositiveInt = Field(le=bounds.MAX_CHIPS, description="chips in one scale-up domain")
    topology: Literal["switch", "torus", "ring", "fully_connected"]
    torus_dims: list[PositiveInt] | None = Field(None, max_length=8, description="for a torus: its dimensions, product = size")
    torus_dim_bidir_gb_s: list[PositiveFloat] | None = Field(
        None, description="for a torus whose dimensions differ: per chip, both directions, GB/s over the two links "
                          "of each dimension (torus_dims order); None splits the chip's scale-up bandwidth equally")
    in_network_reduction: bool = Field(False, description="the switch reduces (NVLink SHARP / NVLS)")
    compact_slices: bool = Field(
        False, description="for a torus: a job on fewer chips than the domain runs on a compact slice of it (Cloud "
                           "TPU's slices: 16 chips of a v4 pod are 2x2x4), and its groups are packed inside that slice")
    full_wrap_slice_chips: PositiveInt | None = Field(
        None, description="with compact_slices: a slice of at least this many chips wraps around along every dimension "
                          "(TPU v4, v5p, Ironwood: optical circuit switches join 4x4x4 cubes), a smaller one is a mesh. "
                          "None: a slice wraps only along the dimensions it spans whole")
    latency_us: PositiveFloat = Field(description="one-hop software-visible latency of a small message")
    technology: str | None = Field(None, description="the domain's own fabric, where the chip has no scale-up links "
                                   "of its own (host-attached cards behind a PCIe switch)")
    bidir_gb_s_per_chip: PositiveFloat | None = Field(
        None, le=bounds.MAX_BANDWIDTH_GB_S, description="per chip, both directions, GB/s over the domain's own fabric "
        "(used only where the chip lists no links.scale_up)")

    @model_validator(mode="after")
    def _torus(self) -> ScaleUpDomain:
        if self.topology == "torus":
            if not self.torus_dims:
                raise ValueError("a torus needs torus_dims, e.g. [4, 4, 4]")
            prod = 1
            for d in self.torus_dims:
                prod *= d
            if prod != self.size:
                raise ValueError(f"torus_dims {self.torus_dims} hold {prod} chips but size is {self.size}")
        if self.torus_dim_bidir_gb_s is not None and len(self.torus_dim_bidir_gb_s) != len(self.torus_dims or []):
            raise ValueError("torus_dim_bidir_gb_s needs one bandwidth per entry of torus_dims")
        return self


class ScaleOutNetwork(Frozen):
    topology: Literal["fat_tree", "rail_optimized", "dcn", "torus"]
    latency_us: PositiveFloat = Field(description="end-to-end latency of a small message")
    bandwidth_gbit_s_per_chip: PositiveFloat | None = Field(
        None, le=bounds.MAX_BANDWIDTH_GB_S * 8, description="overrides the chip's NIC bandwidth, per chip, one direction"
    )


class FabricCalibration(Frozen):
    """One fabric's collective parameters (see ``data/perf/collectives.yaml``)."""

    bw_efficiency: float | None = Field(None, gt=0, le=1, description="achievable fraction of one-direction bandwidth")
    simple_step_overhead_s: float | None = Field(None, ge=0, description="software cost of one Simple-protocol step, s")
    ll_step_overhead_s: float | None = Field(None, ge=0, description="software cost of one LL-protocol step, s")
    ll128_bw_fraction: float | None = Field(None, ge=0, le=1, description="LL128 protocol bandwidth / Simple (0: no LL128)")
    ll128_step_overhead_s: float | None = Field(None, ge=0, description="software cost of one LL128-protocol step, s")
    a2a_bw_efficiency: float | None = Field(None, gt=0, le=1, description="achievable fraction of one-direction bandwidth "
                                            "of a direct all-to-all (unset: bw_efficiency)")
    peer_overhead_s: float | None = Field(None, ge=0, description="software cost per peer message of a direct all-to-all, s")
    tree_chunk_bytes: float | None = Field(None, ge=0, description="bytes per chip a level of a tree across domains takes in "
                                           "before it forwards them (the pipeline's fill; 0: not modelled)")
    simple_only: bool | None = Field(None, description="the fabric's collective library runs the Simple protocol only "
                                     "(no LL or LL128: NCCL over EFA)")


class NvlsCalibration(Frozen):
    bw_efficiency: float | None = Field(None, gt=0, le=1, description="achievable fraction of NVLink bandwidth with NVLS")
    latency_s: float | None = Field(None, ge=0, description="extra fixed cost of an NVLS all-reduce, s")


class CollectiveCalibration(Frozen):
    """Collective-model parameters fitted to this system's own measurements, in preference to
    ``data/perf/collectives.yaml`` (same names and meanings; each optional).
    :func:`fabless.perf.collectives.params_for` reads it."""

    launch_latency_s: float | None = Field(None, ge=0, description="fixed cost of one collective call, s")
    ll_bw_fraction: float | None = Field(None, gt=0, le=1, description="LL protocol bandwidth / Simple")
    scale_up: FabricCalibration | None = None
    scale_out: FabricCalibration | None = None
    nvls: NvlsCalibration | None = None

    def flat(self) -> dict[str, float]:
        """The parameters given, named as :meth:`CollectiveParams.flat` names them
        (``scale_up__bw_efficiency``)."""
        out: dict[str, float] = {}
        for key, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, dict):
                out.update({f"{key}__{k}": float(v) for k, v in value.items()})
            else:
                out[key] = float(value)
        return out


class SystemCalibration(Frozen):
    """Parameters fitted to this system's own measurements (``fabless calibrate``)."""

    collectives: CollectiveCalibration | None = None


class System(Frozen):
    """A deployable unit: chips, the scale-up domain that joins them and the
    scale-out network between domains."""

    name: str
    display_name: str
    chip: Chip
    chips: PositiveInt = Field(le=bounds.MAX_CHIPS, description="chips in this system as sold or rented")
    chips_per_node: PositiveInt = Field(description="chips in one server (host)")
    scale_up: ScaleUpDomain
    scale_out: ScaleOutNetwork | None = None
    price_usd: PositiveFloat | None = Field(None, description="list price of the whole system")
    cpu_cores: PositiveInt | None = Field(
        None, le=bounds.MAX_UNITS, description="CPU systems: cores each socket gives this instance (fewer than the "
        "chip's on an instance that rents part of a socket; default: all of them)")
    memory_gib: PositiveFloat | None = Field(
        None, le=bounds.MAX_CAPACITY_GB, description="CPU systems: the instance's memory over all its sockets, GiB "
        "(default: the chip's memory x sockets)")
    power_w: PositiveFloat | None = Field(None, description="whole-system power at full load")
    calibration: SystemCalibration | None = Field(
        None, description="parameters fitted to this system's measurements (override the shipped ones)")
    notes: list[str] = Field(default_factory=list)
    provenance: dict[str, Source] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sizes(self) -> System:
        if self.chips % self.chips_per_node:
            raise ValueError(f"chips ({self.chips}) must be a multiple of chips_per_node ({self.chips_per_node})")
        if self.cpu_cores is not None and self.cpu_cores > self.chip.compute.cores:
            raise ValueError(f"cpu_cores ({self.cpu_cores}) is more than the {self.chip.compute.cores} cores of {self.chip.name}")
        if (self.cpu_cores is not None or self.memory_gib is not None) and self.chip.kind != "cpu":
            raise ValueError(f"cpu_cores and memory_gib describe CPU instances; {self.chip.name} is a {self.chip.kind}")
        return self

    def resized(self, chips: int) -> System:
        """This system with ``chips`` chips: a job on part of it, or on several of it joined by its
        scale-out network; a node keeps its chips up to ``chips``. Not validated again: whether
        ``chips`` fills whole nodes is the caller's rule (a scenario's count must; a collective's
        group inside a plan may take part of a node)."""
        return self.model_copy(update={"chips": chips, "chips_per_node": min(self.chips_per_node, chips)})

    @property
    def scale_up_link(self) -> ScaleUp | None:
        """The scale-up link of one chip: the chip's own, else the one the system's domain gives
        (``scale_up.technology`` and ``scale_up.bidir_gb_s_per_chip``: a PCIe switch), else None."""
        if self.chip.links.scale_up is not None:
            return self.chip.links.scale_up
        su = self.scale_up
        if su.bidir_gb_s_per_chip:
            return ScaleUp(technology=su.technology or "system fabric", bidir_gb_s=su.bidir_gb_s_per_chip)
        return None

    @property
    def scale_out_bytes_per_s(self) -> float | None:
        """Per chip, one direction."""
        if self.scale_out and self.scale_out.bandwidth_gbit_s_per_chip:
            return self.scale_out.bandwidth_gbit_s_per_chip * 1e9 / 8
        so = self.chip.links.scale_out
        return so.bytes_per_s if so else None
