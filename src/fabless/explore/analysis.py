"""After a search: reference points (shipped chips on the same workload), sensitivity of
the objectives to each parameter, and the plot of the front."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from fabless.economics.ownership import chip_hour
from fabless.errors import FablessError
from fabless.hardware.presets import load_chip

from .evaluate import Evaluator
from .space import Space

#: Shipped chips shown beside the front (when the workload runs on them).
REFERENCES = ("h100-sxm", "b200", "tpu-v5p", "tpu-v6e", "trainium2")


def reference_points(space: Space, names=REFERENCES) -> list[dict]:
    """Each shipped chip on the space's workload, priced at what a buyer pays: the owned
    cost per chip-hour from its purchase price on record (``economics.chip_hour``), else its
    on-demand rental price; ``price_basis`` names the record (provider, tier, date). Chips
    without either, or on which the workload cannot run, are skipped."""
    out = []
    for name in names:
        try:
            chip = load_chip(name)
            ch = chip_hour(chip)
            hour = ch.owned_usd if ch.owned_usd is not None else ch.rented_usd
            if hour is None:
                continue
            basis = f"owned, {ch.price_basis}" if ch.owned_usd is not None else f"rented, {ch.rent_basis}"
            sp = Space.model_construct(**{**dict(space), "base": space.base.model_copy(update={"chip": name, "system": None}),
                                          "parameters": {}})
            ev = Evaluator(sp)
            over = {"chip_hour_usd": hour}
            if chip.physical.tdp_w:
                over["tdp_w"] = chip.physical.tdp_w
            r = ev.evaluate({}, econ_override=over)
        except FablessError:
            continue
        row = {k: (v[0] if isinstance(v, np.ndarray) else v) for k, v in r.items()}
        row.update(name=name, price_basis=basis)
        out.append(row)
    return out


def sensitivity(df, space: Space, bins: int = 8) -> list[dict]:
    """First-order sensitivity of each objective to each parameter over the feasible
    designs: the correlation ratio eta^2 = Var(E[y | x]) / Var(y), with numeric parameters
    cut into ``bins`` quantile bins (a binned estimate of the first-order Sobol index).
    Objectives are taken on a log scale (they span orders of magnitude). Rows: one per
    parameter, sorted by the largest index, largest first."""
    feas = df[df["feasible"]] if not df.empty else df
    rows = []
    if len(feas) < 4:
        return rows
    for name, p in space.params.items():
        x = feas[name]
        if len(p.grid() if p.is_choice else [0, 1]) < 2:
            continue  # not varied
        if p.is_choice or x.nunique() <= bins:
            groups = x.astype(str).to_numpy()
        else:
            q = np.quantile(x.to_numpy(float), np.linspace(0, 1, bins + 1)[1:-1])
            groups = np.searchsorted(q, x.to_numpy(float), side="right")
        row = {"parameter": name}
        for m, _ in space.objective_list:
            y = feas[m].to_numpy(float)
            y = np.log(np.abs(y)) if np.all(y > 0) else y
            ok = np.isfinite(y)
            yv, gv = y[ok], np.asarray(groups)[ok]
            var = yv.var()
            if var <= 0 or yv.size < 4:
                row[m] = 0.0
                continue
            between = sum((gv == g).sum() * (yv[gv == g].mean() - yv.mean()) ** 2 for g in np.unique(gv)) / yv.size
            row[m] = float(between / var)
        rows.append(row)
    rows.sort(key=lambda r: -max(v for k, v in r.items() if k != "parameter"))
    return rows


def plot_front(df, front, refs: list[dict], space: Space, path: str | Path) -> Path | None:
    """Feasible designs (grey), the front (colour) and the reference chips, on the first two
    objectives (the first against tdp_w when there is one objective). PNG."""
    try:  # the optional explore extra, heavy: imported when a plot is drawn
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    objs = space.objective_list
    x, y = (objs[0][0], objs[1][0]) if len(objs) > 1 else (objs[0][0], "tdp_w")
    fig, ax = plt.subplots(figsize=(7, 5))
    feas = df[df["feasible"]]
    ax.scatter(feas[x], feas[y], s=4, c="0.8", label=f"feasible designs ({len(feas):,})")
    ax.plot(front[x], front[y], "o-", c="tab:blue", ms=4, label=f"Pareto front ({len(front)})")
    for r in refs:
        if np.isfinite(r.get(x, np.nan)) and np.isfinite(r.get(y, np.nan)) and r.get(x, 0) > 0:
            ax.scatter([r[x]], [r[y]], marker="*", s=120, c="tab:red" if r["feasible"] else "tab:orange")
            ax.annotate(r["name"], (r[x], r[y]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    for axis, m in ((ax.set_xscale, x), (ax.set_yscale, y)):
        vals = np.concatenate([feas[m].to_numpy(float), [r.get(m, np.nan) for r in refs]])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if vals.size and vals.max() / vals.min() > 30:
            axis("log")
    ax.set_title(f"{space.name}: Pareto front (stars: shipped chips, priced as bought)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_html(front, refs: list[dict], sens: list[dict], space: Space, png: Path | None, path: str | Path) -> Path:
    """One self-contained HTML page: the plot (embedded), the front, the reference chips
    and the sensitivity table."""
    objs = [m for m, _ in space.objective_list]
    parts = [f"<h1>{html.escape(space.name)}: Pareto front</h1>"]
    if png is not None and Path(png).is_file():
        data = base64.b64encode(Path(png).read_bytes()).decode()
        parts.append(f'<img alt="front" src="data:image/png;base64,{data}">')
    cols = ["id", *objs, "unit_cost_usd", "tdp_w", "die_area_per_die_mm2", *space.params]
    parts.append("<h2>Front, best first</h2>" + front[[c for c in dict.fromkeys(cols) if c in front]].to_html(index=False))
    if refs:
        ref = pd.DataFrame([{"chip": r["name"], **{m: r[m] for m in objs}, "price basis": r["price_basis"],
                             "infeasible because": r["reason"]} for r in refs])
        parts.append("<h2>Shipped chips (priced as bought)</h2>" + ref.to_html(index=False))
    if sens:
        parts.append("<h2>Sensitivity (share of variance, log scale)</h2>" + pd.DataFrame(sens).to_html(index=False))
    path = Path(path)
    path.write_text("<!doctype html><meta charset='utf-8'><title>" + html.escape(space.name) + "</title>"
                    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
                    "td,th{border:1px solid #ccc;padding:2px 6px}</style>" + "".join(parts))
    return path


__all__ = ["reference_points", "sensitivity", "plot_front", "write_html", "REFERENCES"]
