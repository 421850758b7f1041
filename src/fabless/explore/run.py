"""Run a search: batches of design ids -> vectorised evaluation -> the store.

Samplers that map ids to designs (grid, random, sobol) split the ids into batches of
``search.batch_size``; batch ``k`` is ids ``[k*B, (k+1)*B)``. A resumed search skips the
batches the store already holds, so nothing completed is lost or evaluated twice.

NSGA-II (Optuna's ``NSGAIISampler``) works a generation (``search.population`` designs)
per batch. On resume the optimiser is replayed: the same seed asks the same designs,
and the stored results of finished generations are told back without re-evaluating
them (their parameters are checked against the store).

Backends: ``local`` (this process) or ``ray`` (each batch a Ray task with retries, so a
batch whose worker dies is run again; the driver alone writes the store).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress as RP, TextColumn, TimeRemainingColumn

from fabless.errors import FablessError, require

from .evaluate import Evaluator
from .samplers import total_designs, values_of
from .space import Space, space_from_dict
from .store import Store


class Progress:
    """Designs/s and the best feasible value of the first objective; a Rich bar on a
    terminal, one line per batch otherwise (so logs and tests can follow it)."""

    def __init__(self, space: Space, total: int, done: int, enabled: bool = True):
        self.metric, self.sense = space.objective_list[0]
        self.total, self.done, self.enabled = total, done, enabled
        self.best: float | None = None
        self.t0 = time.perf_counter()
        self.new = 0
        self.bar = None
        if enabled and sys.stderr.isatty():
            # on stderr, like every progress display, so that stdout holds only the results
            self.bar = RP(TextColumn("explore"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[best]}"), TimeRemainingColumn(),
                          console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("explore", total=total, completed=done, rate="", best="")
            self.bar.start()

    def update(self, batch: int, n: int, out: dict[str, np.ndarray]) -> None:
        self.done += n
        self.new += n
        feas = out["feasible"]
        if feas.any():
            v = out[self.metric][feas]
            b = float(v.max() if self.sense == "max" else v.min())
            if self.best is None or (b > self.best if self.sense == "max" else b < self.best):
                self.best = b
        rate = self.new / max(time.perf_counter() - self.t0, 1e-9)
        best = f"best {self.metric} {self.best:.4g}" if self.best is not None else "no feasible design yet"
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, rate=f"{rate:,.0f} designs/s", best=best)
        elif self.enabled:
            print(f"batch {batch}: {self.done}/{self.total} designs, {rate:,.0f} designs/s, {best}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_search(space: Space, out: str | Path, *, backend: str = "local", address: str | None = None,
               progress: bool = True, evaluator: Evaluator | None = None) -> Store:
    """Evaluate the space into ``out`` (a folder), resuming what is there. Returns the open store.
    Interrupted (Ctrl-C), it closes the store, whose finished batches stay, and re-raises the
    KeyboardInterrupt with ``designs_kept`` (designs in the store) set on it."""
    if backend not in ("local", "ray"):
        raise FablessError(f"--backend: '{backend}' is not one of local, ray")
    ev = evaluator or Evaluator(space)
    store = Store(out)
    try:
        return _search(space, ev, store, backend, address, progress)
    except KeyboardInterrupt as exc:
        exc.designs_kept = store.count()
        store.close()
        raise


def _search(space: Space, ev: Evaluator, store: Store, backend: str, address: str | None, progress: bool) -> Store:
    store.init(space.model_dump(mode="json"), space.fingerprint())
    done = store.done_batches()
    if space.search.sampler == "nsga2":
        _nsga2(space, ev, store, done, progress)
        return store
    total = total_designs(space)
    B = space.search.batch_size
    n_batches = math.ceil(total / B)
    todo = [k for k in range(n_batches) if k not in done]
    prog = Progress(space, total, store.count(), progress)
    try:
        if backend == "ray":
            _ray_batches(space, todo, total, store, prog, address)
        else:
            for k in todo:
                ids = np.arange(k * B, min((k + 1) * B, total))
                vals = values_of(space, ids)
                res = ev.evaluate(vals)
                store.write(k, ids, {**vals, **res})
                prog.update(k, len(ids), res)
    finally:
        prog.close()
    return store


# ----------------------------------------------------------------------------- Ray


_WORKER_EVALUATORS: dict[str, Evaluator] = {}

#: Fault injection for the tests: a worker that finds this file deletes it and dies, once.
FAULT_ENV = "FABLESS_EXPLORE_TEST_KILL_ONCE"


def _ray_eval(space_json: dict, ids: np.ndarray) -> dict[str, np.ndarray]:
    """One batch on a Ray worker (the evaluator is built once per worker process)."""
    fault = os.environ.get(FAULT_ENV)
    if fault and os.path.exists(fault):
        os.remove(fault)
        os._exit(1)  # the worker process dies mid-batch
    space = space_from_dict(space_json)
    ev = _WORKER_EVALUATORS.get(space.fingerprint())
    if ev is None:
        ev = _WORKER_EVALUATORS[space.fingerprint()] = Evaluator(space)
    vals = values_of(space, ids)
    return {**vals, **ev.evaluate(vals)}


def _ray_batches(space: Space, todo: list[int], total: int, store: Store, prog: Progress, address: str | None) -> None:
    try:
        import ray  # the optional ray extra, heavy: imported for --backend ray only
    except ImportError:
        raise FablessError("--backend ray needs Ray: pip install 'fabless[ray]'") from None
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(log_to_driver=False, include_dashboard=False)
        except Exception as exc:  # connection refused, version mismatch, ...
            raise FablessError(f"--backend ray: cannot start or reach Ray{' at ' + address if address else ''}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    remote = ray.remote(max_retries=5, retry_exceptions=False)(_ray_eval)
    B = space.search.batch_size
    sj = space.model_dump(mode="json")
    pending = {}
    for k in todo:
        ids = np.arange(k * B, min((k + 1) * B, total))
        pending[remote.remote(sj, ids)] = (k, ids)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            k, ids = pending.pop(ref)
            res = ray.get(ref)
            store.write(k, ids, res)
            prog.update(k, len(ids), res)


# ----------------------------------------------------------------------------- NSGA-II


def _nsga2(space: Space, ev: Evaluator, store: Store, done: set[int], progress: bool) -> None:
    optuna = require("optuna", "explore", "the nsga2 sampler")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objs = space.objective_list
    pop = space.search.population
    new_api = hasattr(optuna.trial.Trial, "set_constraint")  # Optuna >= 5; constraints_func before
    kw = {} if new_api else {"constraints_func": lambda t: t.user_attrs["violation"]}
    sampler = optuna.samplers.NSGAIISampler(population_size=pop, seed=space.search.seed, **kw)
    study = optuna.create_study(directions=["maximize" if s == "max" else "minimize" for _, s in objs], sampler=sampler)
    gens = math.ceil(space.search.samples / pop)
    prog = Progress(space, gens * pop, store.count(), progress)
    stored = store.frame() if done else None
    try:
        for gen in range(gens):
            trials = [study.ask() for _ in range(pop)]
            vals = _suggest(space, trials)
            ids = np.arange(gen * pop, (gen + 1) * pop)
            if gen in done:
                rows = stored[stored["batch"] == gen].sort_values("id")
                for name in vals:
                    a, b = np.asarray(vals[name]), rows[name].to_numpy()
                    same = (a.astype(str) == b.astype(str)) if a.dtype == object else np.allclose(a.astype(float), b.astype(float))
                    if not np.all(same):
                        raise FablessError(f"{store.path}: generation {gen} differs from the replayed optimiser "
                                           "(another Optuna version?); use a new --out")
                res = {c: rows[c].to_numpy() for c in rows.columns}
            else:
                res = ev.evaluate(vals)
                store.write(gen, ids, {**vals, **res})
                prog.update(gen, pop, res)
            for i, t in enumerate(trials):
                feasible = bool(res["feasible"][i])
                if new_api:
                    t.set_constraint("infeasible", 0.0 if feasible else 1.0)
                else:
                    t.set_user_attr("violation", [0.0 if feasible else 1.0])
                v = []
                for m, s in objs:
                    x = float(res[m][i])
                    if not np.isfinite(x):
                        x = -1e30 if s == "max" else 1e30
                    v.append(x)
                study.tell(t, v)
    finally:
        prog.close()


def _suggest(space: Space, trials) -> dict[str, np.ndarray]:
    out: dict[str, list] = {n: [] for n in space.params}
    for t in trials:
        for name, p in space.params.items():
            if p.is_choice:
                out[name].append(t.suggest_categorical(name, p.values))
            elif p.kind == "int":
                r = p.range
                out[name].append(float(t.suggest_int(name, math.ceil(r.min), math.floor(r.max), step=int(r.step or 1),
                                                     log=r.log and not r.step)))
            else:
                r = p.range
                out[name].append(t.suggest_float(name, r.min, r.max, step=r.step, log=r.log and not r.step))
    return {n: np.asarray(v, dtype=object if space.params[n].kind == "choice" else float) for n, v in out.items()}


__all__ = ["run_search", "Progress"]
