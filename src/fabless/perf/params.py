"""What the operator models need to know about a chip, as numpy arrays over designs.

:class:`ChipParams` holds one entry per design (a chip preset, a user's chip, or one of
thousands of variants a design-space search builds from arrays). Every field is a 1-D
array of the same length, in SI units named in the field (``_hz``, ``_bytes``,
``_bytes_per_s``, ``_flops_per_s``, ``_s``). Build it with :meth:`ChipParams.from_chip`,
:meth:`ChipParams.from_chips` or :meth:`ChipParams.from_arrays`.

The few physical knobs that are not chip specifications (achievable fraction of HBM
bandwidth, launch overhead, matrix-unit efficiency, ...) come from one place per chip
family, ``data/perf/families.yaml``, each with its source (see :func:`families`, read by the
parameter loader :mod:`fabless.params`); a chip file names its family (``perf_family``), and its
own ``calibration`` section (``fabless calibrate`` writes one) overrides its family's values for
that chip.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from dataclasses import dataclass, field, fields, replace
from functools import cached_property, lru_cache, wraps
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fabless.errors import FablessError, InvalidInput, unknown_name_error
from fabless.hardware.presets import load_chip
from fabless.hardware.schema import DTYPES, Chip
from fabless.params import load_param_file

#: Matrix-unit kinds, as integer codes in :attr:`ChipParams.kind_code`.
KINDS = ("tensor_core", "systolic_array", "cpu_simd")
TENSOR_CORE, SYSTOLIC, CPU_SIMD = 0, 1, 2

#: Numeric family parameters (see families.yaml for their meaning).
FAMILY_FIELDS = (
    "mma_efficiency", "sustained_clock_fraction", "hbm_efficiency", "launch_overhead_s",
    "operand_bytes_per_cycle_per_core", "attention_mma_ratio", "attention_overhead_blocks",
    "attention_block", "tile_sram_fraction", "vector_efficiency", "scratchpad_bytes_if_unknown",
    "mma_8bit_ratio", "tile_overhead_s", "device_fixed_s", "pow2_tiles_only", "sync_round_trip_s",
    "compiled_step", "gemm_exposed_steps", "attention_softmax_cycles", "attention_bwd_time_ratio",
    "norm_bwd_partials_per_core",
)

#: How a measurement was timed (a kernel row's ``timing=`` config key, :meth:`ChipParams.timed`):
#: ``device_trace``: a profiler's per-op device duration (the op's own span on the device: no
#: host dispatch, no gap to the next op); ``stream``: a timer (device events or a synchronised host
#: clock) around back-to-back launches, divided by their count; ``wall_sync``: a host clock around
#: one call followed by a synchronise. The last two include the whole ``launch_overhead_s``; a
#: ``wall_sync`` timing also holds the family's ``sync_round_trip_s`` once per call (the host's
#: dispatch of the call and the completion's way back, which back-to-back launches overlap).
TIMING_METHODS = ("device_trace", "stream", "wall_sync")

#: Names of on-chip memory levels that are not operand scratchpads.
_NOT_SCRATCH = {"registers", "l2", "llc", "l3", "infinity_cache", "mall"}

_FAMILIES_PATH = Path(str(resources.files("fabless") / "data" / "perf" / "families.yaml"))


@dataclass(frozen=True)
class Family:
    """One chip family's parameters, with the source of each."""

    name: str
    values: dict[str, float]
    sources: dict[str, dict]


@lru_cache(maxsize=4)
def _families(path: str) -> dict[str, Family]:
    pf = load_param_file(path, require_sources=Path(path) == _FAMILIES_PATH)
    if not isinstance(pf.raw.get("families"), dict):
        raise FablessError(f"{path}: expected a top-level 'families' mapping")
    fams = pf.raw["families"]
    resolved: dict[str, Family] = {}

    def build(name: str, seen: tuple[str, ...] = ()) -> Family:
        if name in resolved:
            return resolved[name]
        if name not in fams:
            raise unknown_name_error("chip family", name, fams)
        if name in seen:
            raise FablessError(f"{path}: family '{name}' inherits from itself")
        body = dict(fams[name] or {})
        parent = body.pop("inherits", None)
        plain = {k: v for k, v in (pf.plain["families"][name] or {}).items() if k != "inherits"}
        sources = pf.sources(f"families.{name}")
        unknown = set(plain) - set(FAMILY_FIELDS)
        if unknown:
            raise FablessError(f"{path}: family '{name}' has unknown parameter '{sorted(unknown)[0]}'; "
                               f"known: {', '.join(FAMILY_FIELDS)}")
        values: dict[str, float] = {}
        srcs: dict[str, dict] = {}
        if parent is not None:
            p = build(str(parent), seen + (name,))
            values.update(p.values)
            srcs.update({k: {**v, "inherited_from": p.name} if "inherited_from" not in v else v
                         for k, v in p.sources.items()})
        for k, v in plain.items():
            try:
                values[k] = float(v)
            except (TypeError, ValueError):
                raise FablessError(f"{path}: family '{name}' parameter '{k}' must be a number, got {v!r}") from None
        srcs.update(sources)
        missing = [f for f in FAMILY_FIELDS if f not in values]
        if missing:
            raise FablessError(f"{path}: family '{name}' lacks '{missing[0]}' (and inherits no value)")
        fam = Family(name, values, srcs)
        resolved[name] = fam
        return fam

    for n in fams:
        build(n)
    return resolved


def families(path: str | Path | None = None) -> dict[str, Family]:
    """All families of ``families.yaml`` (or of ``path``), inheritance resolved."""
    return _families(str(path or _FAMILIES_PATH))


def family_of(chip: Chip, path: str | Path | None = None) -> Family:
    """The family the chip file names (``perf_family``), else ``default-<matrix-unit kind>``
    (``default-gpu`` for a GPU without units described). Never guessed from the chip's name."""
    fams = families(path)
    if chip.perf_family is not None:
        if chip.perf_family not in fams:
            raise unknown_name_error("perf_family", chip.perf_family, fams)
        return fams[chip.perf_family]
    mu = chip.compute.matrix_units
    kind = mu.kind if mu is not None else ("tensor_core" if chip.kind == "gpu" else "systolic_array")
    return fams[{"tensor_core": "default-gpu", "systolic_array": "default-systolic"}.get(kind, f"default-{kind}")]


def _with_chip_calibration(fam: Family, chip: Chip) -> tuple[dict[str, float], dict[str, dict]]:
    """The family's values with the chip file's own ``calibration`` section on top (a chip's
    fitted parameters win over its family's), and the sources of the values it replaced."""
    own = chip.calibration.values() if chip.calibration is not None else {}
    sources = {}
    for k in own:
        s = chip.provenance.get(f"calibration.{k}")
        sources[k] = {**(s.model_dump(exclude_none=True) if s is not None else {}), "chip_file": chip.name}
    return {**fam.values, **own}, sources


def chip_parameters(chip: Chip, path: str | Path | None = None) -> dict:
    """The operator models' parameters of one chip with the source of each (``fabless chips
    show``): ``{"family": name, "parameters": {field: {value, source, confidence, note, ...}}}``,
    the chip file's own calibration in place of its family's values where it has one."""
    fam = family_of(chip, path)
    values, fitted = _with_chip_calibration(fam, chip)
    params = {}
    for k in FAMILY_FIELDS:
        src = fitted.get(k) or fam.sources.get(k, {})
        params[k] = {"value": values[k], **src}
    return {"family": fam.name, "parameters": params}


def _arr(x: Any, n: int | None = None) -> np.ndarray:
    a = np.atleast_1d(np.asarray(x, dtype=float))
    if n is not None and a.shape[0] == 1 and n > 1:
        a = np.repeat(a, n)
    return a


def _digest_value(h: Any, v: Any) -> None:
    """Feed one field's value to the hash ``h``, tagged by its type so that no two different
    values give the same byte stream."""
    if isinstance(v, np.ndarray):
        a = np.ascontiguousarray(v)
        h.update(f"a{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    elif isinstance(v, dict):
        h.update(f"d{len(v)}".encode())
        for k in sorted(v):
            h.update(repr(k).encode())
            _digest_value(h, v[k])
    else:
        h.update(f"r{type(v).__name__}{v!r}".encode())


#: ChipParams.from_chip results by (class, families file, chip content); and by chip object
#: (the object kept alive with its entry so that its id is not reused while cached).
_FROM_CHIP: dict[tuple, ChipParams] = {}
_FROM_CHIP_BY_ID: dict[tuple, tuple[Chip, ChipParams]] = {}
_FROM_CHIP_MAX = 256


def _memoised_on_content(build: Any) -> Any:
    """``from_chip`` memoised on the chip's content (its whole validated description), its
    keyword arguments (the families file, ...) and the class: a chip rebuilt or re-read with the
    same content gets the same (read-only) ChipParams, so caches keyed on it hit. Each cache
    holds at most ``_FROM_CHIP_MAX`` entries; both are cleared when either is full."""

    @wraps(build)
    def from_chip(cls: type, chip: Chip | str, **kw: Any) -> ChipParams:
        if not isinstance(chip, Chip):
            chip = load_chip(chip)
        try:
            args = (cls, str(kw.get("families_path") or _FAMILIES_PATH),
                    tuple(sorted((k, v) for k, v in kw.items() if k != "families_path")))
            hash(args)
        except TypeError:  # an argument that cannot be a key: built each time
            return build(cls, chip, **kw)
        by_id = _FROM_CHIP_BY_ID.get((args, id(chip)))
        if by_id is not None and by_id[0] is chip:
            return by_id[1]
        key = (args, chip.model_dump_json())
        out = _FROM_CHIP.get(key)
        if out is None:
            out = build(cls, chip, **kw)
            for a in _arrays(out):
                a.flags.writeable = False  # shared by every caller: no one may edit it in place
        if len(_FROM_CHIP) >= _FROM_CHIP_MAX or len(_FROM_CHIP_BY_ID) >= _FROM_CHIP_MAX:
            # cleared together: what the by-identity cache returns is then always what the content cache
            # holds, so a chip rebuilt with the same content still gets the very same object
            _FROM_CHIP.clear()
            _FROM_CHIP_BY_ID.clear()
        _FROM_CHIP[key] = out
        _FROM_CHIP_BY_ID[(args, id(chip))] = (chip, out)
        return out

    return from_chip


def _arrays(p: ChipParams) -> list[np.ndarray]:
    out = [getattr(p, f.name) for f in fields(p)]
    out += list(p.peak_flops_per_s.values())
    return [a for a in out if isinstance(a, np.ndarray)]


@dataclass(frozen=True)
class ChipParams:
    """One entry per design; every numeric field is a float array of shape (n,).

    ``peak_flops_per_s`` maps a datatype to the dense datasheet peak (NaN where the chip has
    no matrix path for it). ``mu_rows``/``mu_cols`` are NaN for tensor cores. ``mu_reshape`` is a
    reconfigurable systolic array's factor ``f`` (the chip file's ``reshape_factor``): the array
    also runs as (rows/f) x (cols*f) and (rows*f) x (cols/f); 1 for a fixed shape. ``mu_split`` s
    (the chip file's ``physical_split``): each array is s physical arrays, which take the
    independent products of a batched matmul one each, in the shape (rows/s) x cols or
    rows x (cols/s) (:attr:`product_geometries`); 1: products run on whole arrays."""

    name: tuple[str, ...]
    family: tuple[str, ...]
    kind_code: np.ndarray
    peak_flops_per_s: dict[str, np.ndarray]
    vector_flops_per_s: np.ndarray
    cores: np.ndarray
    mu_count: np.ndarray
    mu_rows: np.ndarray
    mu_cols: np.ndarray
    boost_clock_hz: np.ndarray
    sustained_clock_hz: np.ndarray
    hbm_bytes_per_s: np.ndarray
    sram_per_core_bytes: np.ndarray
    sram_shared_bytes: np.ndarray
    mma_efficiency: np.ndarray
    hbm_efficiency: np.ndarray
    launch_overhead_s: np.ndarray
    operand_bytes_per_cycle_per_core: np.ndarray
    attention_mma_ratio: np.ndarray
    attention_overhead_blocks: np.ndarray
    attention_block: np.ndarray
    tile_sram_fraction: np.ndarray
    vector_efficiency: np.ndarray
    mma_8bit_ratio: np.ndarray
    tile_overhead_s: np.ndarray
    device_fixed_s: np.ndarray
    pow2_tiles_only: np.ndarray
    sync_round_trip_s: np.ndarray
    compiled_step: np.ndarray
    gemm_exposed_steps: np.ndarray
    attention_softmax_cycles: np.ndarray
    attention_bwd_time_ratio: np.ndarray
    norm_bwd_partials_per_core: np.ndarray
    mu_reshape: np.ndarray
    mu_split: np.ndarray
    sources: tuple[dict, ...] = field(default=(), compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    @_memoised_on_content
    def from_chip(cls, chip: Chip | str, *, families_path: str | Path | None = None) -> ChipParams:
        """The parameters of one chip (a Chip, or a preset name / YAML path)."""
        if not isinstance(chip, Chip):
            chip = load_chip(chip)
        if chip.kind == "cpu":
            raise InvalidInput(f"{chip.name} is a CPU (kind: cpu): the accelerator operator models (tensor-core or systolic "
                               "tiles, HBM, NCCL) do not apply; use fabless estimate or fabless op gemm, which run the CPU "
                               "model (fabless/perf/cpu.py)")
        fam = family_of(chip, families_path)
        f, fitted = _with_chip_calibration(fam, chip)
        mu = chip.compute.matrix_units
        kind = mu.kind if mu is not None else ("tensor_core" if chip.kind == "gpu" else "systolic_array")
        cores = chip.compute.cores
        boost_hz = chip.clock.boost_mhz * 1e6
        sustained_hz = (chip.clock.sustained_mhz * 1e6 if chip.clock.sustained_mhz
                        else boost_hz * f["sustained_clock_fraction"])
        per_core = [lv.capacity_kib * 1024 for lv in chip.memory.on_chip
                    if lv.scope == "core" and lv.name.lower() not in _NOT_SCRATCH]
        shared = [lv.total_bytes for lv in chip.memory.on_chip
                  if lv.scope == "chip" and lv.name.lower() != "registers"]
        if chip.compute.vector_units is not None:
            vec = chip.compute.vector_units.fp32_flops_per_cycle * boost_hz
        else:
            vec = (chip.peak_flops("fp32") or (chip.peak_flops("bf16") or 1e12) / 16)
        src = {"family": fam.name, **{k: fam.sources.get(k, {}) for k in FAMILY_FIELDS}, **fitted}
        if not per_core:
            src["sram_per_core_bytes"] = fam.sources.get("scratchpad_bytes_if_unknown", {})
        if chip.clock.sustained_mhz:
            src["sustained_clock_hz"] = {"source": f"chip file clock.sustained_mhz of {chip.name}"}
        return cls(
            name=(chip.name,),
            family=(fam.name,),
            kind_code=np.array([float(KINDS.index(kind))]),
            peak_flops_per_s={d: np.array([chip.peak_flops(d) or np.nan]) for d in DTYPES},
            vector_flops_per_s=np.array([float(vec)]),
            cores=np.array([float(cores)]),
            mu_count=np.array([float(mu.count if mu else cores)]),
            mu_rows=np.array([float(mu.rows) if mu and mu.rows else np.nan]),
            mu_cols=np.array([float(mu.cols) if mu and mu.cols else np.nan]),
            boost_clock_hz=np.array([boost_hz]),
            sustained_clock_hz=np.array([min(sustained_hz, boost_hz)]),
            hbm_bytes_per_s=np.array([chip.memory.hbm.bandwidth_bytes_per_s]),
            sram_per_core_bytes=np.array([max(per_core) if per_core else f["scratchpad_bytes_if_unknown"]]),
            sram_shared_bytes=np.array([float(sum(shared))]),
            **{k: np.array([f[k]]) for k in ("mma_efficiency", "hbm_efficiency", "launch_overhead_s",
                                             "operand_bytes_per_cycle_per_core", "attention_mma_ratio",
                                             "attention_overhead_blocks", "attention_block",
                                             "tile_sram_fraction", "vector_efficiency", "mma_8bit_ratio",
                                             "tile_overhead_s", "device_fixed_s", "pow2_tiles_only",
                                             "sync_round_trip_s", "compiled_step", "gemm_exposed_steps",
                                             "attention_softmax_cycles", "attention_bwd_time_ratio",
                                             "norm_bwd_partials_per_core")},
            mu_reshape=np.array([float(mu.reshape_factor or 1) if mu else 1.0]),
            mu_split=np.array([float(mu.physical_split or 1) if mu else 1.0]),
            sources=(src,),
        )

    @classmethod
    def from_chips(cls, chips: list[Chip | str], *, families_path: str | Path | None = None) -> ChipParams:
        """Several chips, one entry each (they may mix tensor cores and systolic arrays)."""
        if not chips:
            raise FablessError("no chips given")
        return concat([cls.from_chip(c, families_path=families_path) for c in chips])

    @classmethod
    def from_arrays(cls, *, peak_flops_per_s: dict[str, Any], cores: Any, hbm_bytes_per_s: Any,
                    boost_clock_hz: Any, kind: str | Any = "tensor_core", mu_count: Any = None,
                    mu_rows: Any = np.nan, mu_cols: Any = np.nan, sustained_clock_hz: Any = None,
                    sram_per_core_bytes: Any = 228 * 1024, sram_shared_bytes: Any = 50e6,
                    vector_flops_per_s: Any = None, mu_reshape: Any = 1.0, mu_split: Any = 1.0,
                    family: str = "default-gpu",
                    families_path: str | Path | None = None, name: Any = None,
                    **family_overrides: Any) -> ChipParams:
        """Designs straight from arrays (a design-space search): every argument is a scalar or
        an array of the design count; family parameters not given come from ``family``."""
        fam = families(families_path).get(family)
        if fam is None:
            raise unknown_name_error("chip family", family, families(families_path))
        bad = set(family_overrides) - set(FAMILY_FIELDS)
        if bad:
            raise FablessError(f"unknown parameter '{sorted(bad)[0]}'; known: {', '.join(FAMILY_FIELDS)}")
        lengths = [np.size(v) for v in (cores, hbm_bytes_per_s, boost_clock_hz, mu_count, mu_rows, mu_cols,
                                        sustained_clock_hz, sram_per_core_bytes, sram_shared_bytes,
                                        vector_flops_per_s, kind, mu_reshape, mu_split, *peak_flops_per_s.values(),
                                        *family_overrides.values()) if v is not None]
        n = max(lengths)
        if any(ln not in (1, n) for ln in lengths):
            raise FablessError(f"array arguments must all have length 1 or {n}, got lengths {sorted(set(lengths))}")
        fv = {**fam.values, **family_overrides}
        boost = _arr(boost_clock_hz, n)
        sustained = (_arr(sustained_clock_hz, n) if sustained_clock_hz is not None
                     else boost * _arr(fv["sustained_clock_fraction"], n))
        if isinstance(kind, str) or np.ndim(kind) == 0 and not isinstance(kind, (int, float, np.number)):
            kind_code = np.full(n, float(KINDS.index(str(kind))))
        else:
            kind_code = np.array([KINDS.index(k) if isinstance(k, str) else k for k in np.atleast_1d(kind)], float)
            kind_code = _arr(kind_code, n)
        peaks = {d: _arr(peak_flops_per_s.get(d, np.nan), n) for d in DTYPES}
        cores_a = _arr(cores, n)
        vec = (_arr(vector_flops_per_s, n) if vector_flops_per_s is not None
               else np.nan_to_num(peaks["bf16"], nan=1e12) / 16)
        names = tuple(np.atleast_1d(name).astype(str)) if name is not None else tuple(f"design-{i}" for i in range(n))
        if len(names) == 1 and n > 1:
            names = tuple(f"{names[0]}-{i}" for i in range(n))
        out = cls(
            name=names, family=(fam.name,) * n, kind_code=kind_code, peak_flops_per_s=peaks,
            vector_flops_per_s=vec, cores=cores_a,
            mu_count=_arr(mu_count if mu_count is not None else cores, n),
            mu_rows=_arr(mu_rows, n), mu_cols=_arr(mu_cols, n), boost_clock_hz=boost,
            sustained_clock_hz=np.minimum(sustained, boost), hbm_bytes_per_s=_arr(hbm_bytes_per_s, n),
            sram_per_core_bytes=_arr(sram_per_core_bytes, n), sram_shared_bytes=_arr(sram_shared_bytes, n),
            **{k: _arr(fv[k], n) for k in FAMILY_FIELDS if k not in ("sustained_clock_fraction", "scratchpad_bytes_if_unknown")},
            mu_reshape=_arr(mu_reshape, n),
            mu_split=_arr(mu_split, n),
            sources=tuple({"family": fam.name} for _ in range(n)),
        )
        out.check()
        return out

    # ------------------------------------------------------------------ helpers
    @cached_property
    def key(self) -> bytes:
        """A digest of every field but ``sources`` (names, families, every array's dtype, shape
        and bytes): equal for two ChipParams of the same content, different when any value
        differs. Caches of operator times key on it, so they hit across objects rebuilt from the
        same chip. Computed once per ChipParams (like :attr:`single`): build a new one
        (``replace``) rather than editing arrays."""
        h = hashlib.blake2b(digest_size=16)
        for f in fields(self):
            if not f.compare:
                continue
            h.update(f.name.encode())
            _digest_value(h, getattr(self, f.name))
        return h.digest()

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChipParams):
            return NotImplemented
        return self is other or self.key == other.key

    @cached_property
    def single(self) -> OneDesign | None:
        """The design as Python floats when there is exactly one (else None): the operator
        models' scalar path reads it (see :class:`OneDesign`). Like :attr:`array_rows` it is
        computed once per ChipParams; build a new one (``replace``) rather than editing arrays."""
        return OneDesign(self) if len(self) == 1 else None

    @cached_property
    def array_rows(self) -> np.ndarray:
        """Systolic array rows, 128 where not described."""
        return np.where(np.isnan(self.mu_rows), 128.0, self.mu_rows)

    @cached_property
    def array_cols(self) -> np.ndarray:
        return np.where(np.isnan(self.mu_cols), 128.0, self.mu_cols)

    @cached_property
    def is_systolic(self) -> np.ndarray:
        """Whether each design's matrix units are systolic arrays (``kind_code == SYSTOLIC``)."""
        return self.kind_code == SYSTOLIC

    @cached_property
    def clock_ratio(self) -> np.ndarray:
        """Sustained over boost clock (the fraction of the datasheet peak a long kernel keeps)."""
        return self.sustained_clock_hz / self.boost_clock_hz

    @cached_property
    def hbm_rate_bytes_per_s(self) -> np.ndarray:
        """The HBM bandwidth a kernel streams at: ``hbm_bytes_per_s x hbm_efficiency``."""
        return self.hbm_bytes_per_s * self.hbm_efficiency

    @cached_property
    def vector_rate_flops_per_s(self) -> np.ndarray:
        """The vector FLOP/s a memory-bound kernel computes at: ``vector_flops_per_s x vector_efficiency``."""
        return self.vector_flops_per_s * self.vector_efficiency

    def derived(self, name: Any, build: Any) -> Any:
        """``build(self)``, computed once per ChipParams and ``name``: what a model derives from
        the chip alone, the same for every operator (a search over thousands of designs then
        computes it once per batch of designs, not once per operator). Like :attr:`single`, it
        assumes the arrays are not edited in place."""
        memo = self.__dict__.setdefault("_derived", {})
        if name not in memo:
            memo[name] = build(self)
        return memo[name]

    @cached_property
    def array_shapes(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct (:attr:`array_rows`, :attr:`array_cols`, ``mu_count``) of the designs,
        as a (3, g) array, and for each design the column of its own. A design search varies a
        few array shapes and counts over thousands of designs: the systolic tiling search
        (:mod:`fabless.perf.gemm`), which depends on nothing else, runs once per shape."""
        return distinct_shapes(self.array_rows, self.array_cols, self.mu_count)

    @cached_property
    def array_geometries(self) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]:
        """The shapes each design's arrays can run as: (rows, cols, distinct shapes, inverse) of
        :attr:`array_shapes`'s form, first the file's rows x cols, then, where any design has a
        ``mu_reshape`` f > 1, (rows/f) x (cols*f) and (rows*f) x (cols/f) (a design with f = 1
        gets its own shape again there)."""
        out = [(self.array_rows, self.array_cols, *self.array_shapes)]
        if np.any(self.mu_reshape != 1):
            f = self.mu_reshape
            for r, c in ((self.array_rows / f, self.array_cols * f), (self.array_rows * f, self.array_cols / f)):
                out.append((r, c, *distinct_shapes(r, c, self.mu_count)))
        return tuple(out)

    @cached_property
    def product_geometries(self) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]:
        """The shapes the arrays run the independent products of a batched matmul in (a single
        GEMM runs in :attr:`array_geometries`), in that form: those, then, where any design has a
        ``mu_split`` s > 1, its ``count x s`` physical arrays of (rows/s) x cols and of rows x (cols/s),
        each taking a product of its own (a design with s = 1 gets its own shape and count again)."""
        out = list(self.array_geometries)
        if np.any(self.mu_split != 1):
            s = self.mu_split
            count = self.mu_count * s
            for r, c in ((self.array_rows / s, self.array_cols), (self.array_rows, self.array_cols / s)):
                out.append((r, c, *distinct_shapes(r, c, count)))
        return tuple(out)

    def __len__(self) -> int:
        return int(self.cores.shape[0])

    def timed(self, timing: str) -> ChipParams:
        """The parameters as a measurement timed by ``timing`` (one of :data:`TIMING_METHODS`) sees
        them: a per-op device trace holds only the on-device part of the fixed cost per kernel
        (``device_fixed_s``, at most the whole), a timer around back-to-back launches the whole
        ``launch_overhead_s``, and a host clock with a synchronise after every call that plus the
        host round trip of the call (``sync_round_trip_s``)."""
        if timing not in TIMING_METHODS:
            raise InvalidInput(f"timing must be one of {', '.join(TIMING_METHODS)}, got '{timing}'")
        if timing == "wall_sync":
            return self.replace(launch_overhead_s=self.launch_overhead_s + self.sync_round_trip_s)
        if timing != "device_trace":
            return self
        return self.replace(launch_overhead_s=np.minimum(self.device_fixed_s, self.launch_overhead_s))

    def replace(self, **changes: Any) -> ChipParams:
        """A copy with some fields replaced (scalars are broadcast to every design)."""
        n = len(self)
        fixed = {k: (_arr(v, n) if k not in ("name", "family", "peak_flops_per_s", "sources") else v)
                 for k, v in changes.items()}
        return replace(self, **fixed)

    def peak(self, dtype: str) -> np.ndarray:
        """Dense peak FLOP/s for ``dtype``; a one-line error if no design supports it."""
        if dtype not in self.peak_flops_per_s:
            raise unknown_name_error("dtype", dtype, DTYPES)
        p = self.peak_flops_per_s[dtype]
        if self.derived(("no_path", dtype), lambda c: bool(np.all(np.isnan(p)))):
            raise FablessError(f"{', '.join(sorted(set(self.name)))[:80]} has no matrix path for {dtype}; "
                               f"supported: {', '.join(d for d in DTYPES if not np.all(np.isnan(self.peak_flops_per_s[d])))}")
        return p

    def check(self) -> None:
        """Fractions in (0, 1], positive rates and counts; one-line error otherwise. ``attention_mma_ratio`` is
        relative to ``mma_efficiency`` and may exceed 1 (an attention kernel nearer the peak than the GEMMs the
        efficiency was measured on), but not past the peak: their product is in (0, 1]."""
        for name in ("mma_efficiency", "hbm_efficiency", "tile_sram_fraction", "vector_efficiency", "mma_8bit_ratio"):
            a = getattr(self, name)
            if np.any(~(a > 0)) or np.any(a > 1):
                raise FablessError(f"{name} must be in (0, 1], got {a[~((a > 0) & (a <= 1))][0]:g}")
        a = self.attention_mma_ratio * self.mma_efficiency
        bad = ~((a > 0) & (a <= 1 + 1e-12))  # the product of two rounded fractions may pass 1 by a rounding error
        if np.any(bad):
            raise FablessError("attention_mma_ratio x mma_efficiency (the attention loop's fraction of the peak) must be "
                               f"in (0, 1], got {a[bad][0]:g}")
        for name in ("cores", "mu_count", "boost_clock_hz", "sustained_clock_hz", "hbm_bytes_per_s"):
            a = getattr(self, name)
            if np.any(~(a > 0)):
                raise FablessError(f"{name} must be positive, got {a[~(a > 0)][0]:g}")
        for name in ("launch_overhead_s", "tile_overhead_s", "device_fixed_s", "sync_round_trip_s"):
            if np.any(getattr(self, name) < 0):
                raise FablessError(f"{name} must be >= 0")
        if np.any(~(self.mu_reshape >= 1)):
            raise FablessError(f"mu_reshape must be >= 1 (1: a fixed array shape), got {self.mu_reshape[~(self.mu_reshape >= 1)][0]:g}")
        if np.any(~(self.mu_split >= 1)):
            raise FablessError(f"mu_split must be >= 1 (1: products run on whole arrays), got {self.mu_split[~(self.mu_split >= 1)][0]:g}")


def distinct_shapes(rows: np.ndarray, cols: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (rows, cols, count) of the designs as a (3, g) array, and for each design
    the column of its own (:attr:`ChipParams.array_shapes`)."""
    # each column's distinct values, then the distinct combinations of their codes (three
    # 1-D sorts: far cheaper than np.unique over rows)
    cols_u = [np.unique(a, return_inverse=True) for a in (rows, cols, count)]
    code = np.zeros(np.size(rows), dtype=np.int64)
    for values, inv in cols_u:
        code = code * len(values) + inv.reshape(-1)
    combos, inverse = np.unique(code, return_inverse=True)
    shapes = np.empty((3, combos.size))
    for i in (2, 1, 0):
        values, _ = cols_u[i]
        shapes[i] = values[combos % len(values)]
        combos = combos // len(values)
    return shapes, inverse.reshape(-1)


def concat(parts: list[ChipParams]) -> ChipParams:
    """Join several ChipParams into one (designs in order)."""
    first = parts[0]
    kw: dict[str, Any] = {}
    for f in fields(ChipParams):
        vals = [getattr(p, f.name) for p in parts]
        if f.name in ("name", "family", "sources"):
            kw[f.name] = tuple(x for v in vals for x in v)
        elif f.name == "peak_flops_per_s":
            kw[f.name] = {d: np.concatenate([v[d] for v in vals]) for d in first.peak_flops_per_s}
        else:
            kw[f.name] = np.concatenate(vals)
    return ChipParams(**kw)


def as_params(chip: ChipParams | Chip | str | list) -> ChipParams:
    """Accept a ChipParams, a Chip, a preset name, or a list of chips/names."""
    if isinstance(chip, ChipParams):
        return chip
    if isinstance(chip, (list, tuple)):
        return ChipParams.from_chips(list(chip))
    return ChipParams.from_chip(chip)


#: Numeric per-design fields of ChipParams (every field but names, families, peaks, sources).
_NUMERIC_FIELDS = tuple(f.name for f in fields(ChipParams)
                        if f.name not in ("name", "family", "peak_flops_per_s", "sources"))


class OneDesign:
    """One design's parameters as Python floats, with the same attribute names as ChipParams.

    Why: every operator model is written once, on numpy arrays over designs (the reference,
    and fast for thousands of designs). For a single design numpy's per-call cost on
    1-element arrays (~1 us a ufunc) dominates, so the models also evaluate the same
    formulas, in the same order, on these floats with :data:`SCALAR` in place of numpy: IEEE
    arithmetic gives the same bits (``tests/perf/test_scalar_path.py`` checks it)."""

    def __init__(self, chip: ChipParams) -> None:
        self._chip = weakref.ref(chip)  # no reference cycle: the chip caches this object
        for name in _NUMERIC_FIELDS:
            setattr(self, name, float(getattr(chip, name)[0]))
        self.peak_flops_per_s = {d: float(v[0]) for d, v in chip.peak_flops_per_s.items()}
        self.array_rows = float(chip.array_rows[0])
        self.array_cols = float(chip.array_cols[0])
        self.hbm_rate_bytes_per_s = self.hbm_bytes_per_s * self.hbm_efficiency
        self.vector_rate_flops_per_s = self.vector_flops_per_s * self.vector_efficiency

    @property
    def array_geometries(self) -> tuple[tuple[float, float], ...]:
        """(rows, cols) of each shape the design's arrays run as, in the order of
        :attr:`ChipParams.array_geometries`: the file's own, then for a reconfigurable array
        (``mu_reshape`` f > 1) (rows/f) x (cols*f) and (rows*f) x (cols/f)."""
        r, c, f = self.array_rows, self.array_cols, self.mu_reshape
        return ((r, c),) if f == 1 else ((r, c), (r / f, c * f), (r * f, c / f))

    @property
    def product_geometries(self) -> tuple[tuple[float, float, float], ...]:
        """(rows, cols, arrays) of each shape the design runs a batched matmul's independent
        products in, in the order of :attr:`ChipParams.product_geometries`: :attr:`array_geometries`
        on the ``mu_count`` arrays, then for ``mu_split`` s > 1 (rows/s) x cols and rows x (cols/s)
        on ``mu_count x s`` physical arrays."""
        u, s = self.mu_count, self.mu_split
        out = tuple((r, c, u) for r, c in self.array_geometries)
        if s == 1:
            return out
        r, c = self.array_rows, self.array_cols
        return out + ((r / s, c, u * s), (r, c / s, u * s))

    def peak(self, dtype: str) -> float:
        """As :meth:`ChipParams.peak` (the same one-line errors)."""
        p = self.peak_flops_per_s.get(dtype)
        if p is None or p != p:
            self._chip().peak(dtype)  # raises
        return p


class _ScalarMath:
    """numpy's elementwise functions used by the models, on Python floats, with numpy's
    results: NaN propagates through maximum/minimum, ceil/floor keep inf and NaN, and every
    result is a float (so no exact-integer arithmetic sneaks in)."""

    @staticmethod
    def ceil(x: float) -> float:
        return float(math.ceil(x)) if x - x == 0 else x

    @staticmethod
    def floor(x: float) -> float:
        return float(math.floor(x)) if x - x == 0 else x

    sqrt = staticmethod(math.sqrt)

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return a if (a >= b or a != a) else b

    @staticmethod
    def minimum(a: float, b: float) -> float:
        return a if (a <= b or a != a) else b

    @staticmethod
    def where(cond: bool, x: float, y: float) -> float:
        return float(x) if cond else float(y)


#: Stands in for ``np`` in the scalar path of the models (see :class:`OneDesign`).
SCALAR = _ScalarMath()


def argmin(values: list[float]) -> int:
    """``np.argmin`` of a list: the first NaN if any, else the first smallest."""
    best = 0
    for i, v in enumerate(values):
        if v != v:
            return i
        if v < values[best]:
            best = i
    return best
