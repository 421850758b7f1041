"""The result store: an embedded DuckDB file, written batch by batch as designs are evaluated.

``results.duckdb`` holds

- ``meta(key, value)``: the space (as JSON), its fingerprint, the sampler and seed;
- ``designs``: one row per design: ``id`` (primary key), ``batch``, the parameter values,
  every metric, ``feasible`` and ``reason`` (why it is infeasible, '' when feasible).

Each batch is inserted in one transaction, so a search killed at any moment leaves only
whole batches; a resumed search asks :meth:`Store.done_batches` and evaluates the rest.
The primary key makes a duplicate design an error rather than a silent double count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fabless.errors import FablessError, require

FILE = "results.duckdb"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    def __init__(self, path: str | Path, *, read_only: bool = False):
        duckdb = require("duckdb", "explore", "fabless explore's result store")

        p = Path(path)
        if p.is_dir() or not p.suffix:
            p = p / FILE
        if read_only and not p.is_file():
            raise FablessError(f"{path}: no search results here (expected {FILE})")
        if not read_only:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file where the folder should be, no permission, ...
                raise FablessError(f"{p.parent}: cannot make the results folder ({exc.strerror})") from None
        self.path = p
        try:
            self.con = duckdb.connect(str(p), read_only=read_only)
        except duckdb.Error as exc:
            raise FablessError(f"{p}: cannot open the result store ({str(exc).splitlines()[0]})") from None
        if not read_only:
            self.con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")

    # ---------------------------------------------------------------- meta
    def meta(self) -> dict[str, str]:
        try:
            return dict(self.con.execute("SELECT key, value FROM meta").fetchall())
        except Exception:
            return {}

    def init(self, space_json: dict, fingerprint: str) -> None:
        """Record the space, or check that a resumed search is the same space."""
        m = self.meta()
        if m:
            if m.get("fingerprint") != fingerprint:
                raise FablessError(f"{self.path}: holds results of a different space (or seed, sampler, batch size); "
                                   "use another --out, or the space that made them")
            return
        self.con.execute("INSERT INTO meta VALUES ('space', ?), ('fingerprint', ?)", [json.dumps(space_json), fingerprint])

    # ---------------------------------------------------------------- designs
    def has_table(self) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'designs'").fetchall()[0][0])

    def done_batches(self) -> set[int]:
        if not self.has_table():
            return set()
        return {int(r[0]) for r in self.con.execute("SELECT DISTINCT batch FROM designs").fetchall()}

    def write(self, batch: int, ids: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        """Insert one batch atomically."""
        data = {"id": np.asarray(ids, dtype=np.int64), "batch": np.full(len(ids), batch, dtype=np.int64)}
        for k, v in columns.items():
            v = np.asarray(v)
            data[k] = v.astype(str) if v.dtype == object else v
        df = pd.DataFrame(data)
        if not self.has_table():
            cols = []
            for k in df.columns:
                dt = df[k].dtype
                sql = ("BIGINT" if k in ("id", "batch") else "BOOLEAN" if pd.api.types.is_bool_dtype(dt) else
                       "DOUBLE" if pd.api.types.is_numeric_dtype(dt) else "VARCHAR")
                cols.append(f"{_q(k)} {sql}" + (" PRIMARY KEY" if k == "id" else ""))
            self.con.execute(f"CREATE TABLE designs ({', '.join(cols)})")
        self.con.register("_batch", df)
        try:
            self.con.execute("BEGIN TRANSACTION")
            self.con.execute(f"INSERT INTO designs ({', '.join(_q(c) for c in df.columns)}) SELECT * FROM _batch")
            self.con.execute("COMMIT")
        except Exception as exc:
            self.con.execute("ROLLBACK")
            raise FablessError(f"{self.path}: could not store batch {batch}: {str(exc).splitlines()[0]}") from None
        finally:
            self.con.unregister("_batch")

    def frame(self, where: str = ""):
        """All designs (or those matching ``where``) as a DataFrame, by id."""
        if not self.has_table():
            return pd.DataFrame()
        return self.con.execute(f"SELECT * FROM designs {where} ORDER BY id").df()

    def count(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM designs").fetchall()[0][0]) if self.has_table() else 0

    def close(self) -> None:
        self.con.close()


__all__ = ["Store", "FILE"]
