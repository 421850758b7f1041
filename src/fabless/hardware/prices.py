"""Prices of shipped chips, with tier and date: ``data/economics/prices.yaml``.

One record per (chip, provider, tier, date). Rental tiers (``on-demand``, ``1-yr``,
``3-yr``) carry ``usd_per_chip_hour``; purchase tiers (``list``, ``street``) carry
``usd_per_chip``. A chip file carries no price of its own; a *design* file (a custom chip
that ``fabless explore`` wrote, or a user's YAML) may keep ``price:`` and that price is
used for it, named as the file's own.

Selection (:func:`select_price`), the same rule for every chip so that a comparison uses
one tier throughout:

* the quotes of the chip in the tier, dated within :data:`WINDOW_DAYS` of its newest
  quote in that tier (older quotes are history), and of those the cheapest: the price a
  buyer shopping at that date would pay;
* default tiers: rent ``on-demand``; buy ``list``, else ``street`` where the vendor
  publishes no list price.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from fabless.errors import FablessError
from fabless.loading import read_yaml, validate
from fabless.provenance import Confidence

from .schema import Chip, Frozen

RENT_TIERS = ("on-demand", "1-yr", "3-yr")
BUY_TIERS = ("list", "street")
TIERS = RENT_TIERS + BUY_TIERS
Tier = Literal["on-demand", "1-yr", "3-yr", "list", "street"]

#: Quotes older than this before a chip's newest quote in a tier are not selected.
WINDOW_DAYS = 365


class PriceRecord(Frozen):
    chip: str
    provider: str
    tier: Tier
    date: dt.date | None = Field(None, description="when the price was in effect; None only for a chip file's own price")
    usd_per_chip_hour: PositiveFloat | None = None
    usd_per_chip: PositiveFloat | None = None
    offer: str = ""
    source: str
    confidence: Confidence = "verified"
    note: str | None = None

    @model_validator(mode="after")
    def _unit(self) -> PriceRecord:
        rent = self.tier in RENT_TIERS
        if rent and (self.usd_per_chip_hour is None or self.usd_per_chip is not None):
            raise ValueError(f"{self.chip} {self.tier}: a rental tier gives usd_per_chip_hour (and no usd_per_chip)")
        if not rent and (self.usd_per_chip is None or self.usd_per_chip_hour is not None):
            raise ValueError(f"{self.chip} {self.tier}: a purchase tier gives usd_per_chip (and no usd_per_chip_hour)")
        return self

    @property
    def usd(self) -> float:
        """The price in its tier's unit: USD per chip-hour (rental) or per chip (purchase)."""
        return float(self.usd_per_chip_hour if self.tier in RENT_TIERS else self.usd_per_chip)

    def label(self) -> str:
        """'Lambda on-demand 2025-02-28' -- who, which tier, when."""
        return f"{self.provider} {self.tier}" + (f" {self.date.isoformat()}" if self.date else "")


class PriceTable(Frozen):
    prices: list[PriceRecord] = Field(default_factory=list)


def _path() -> Path:
    return Path(str(resources.files("fabless") / "data" / "economics" / "prices.yaml"))


@lru_cache(maxsize=1)
def price_records() -> tuple[PriceRecord, ...]:
    """Every record of the shipped price file."""
    raw = read_yaml(_path())
    raw = {k: v for k, v in raw.items() if not str(k).startswith("_")}
    return tuple(validate(PriceTable, raw, str(_path())).prices)


def check_tier(tier: str | None, flag: str = "--price-tier") -> str | None:
    """``tier`` if it is one of :data:`TIERS` (or None); else a one-line FablessError."""
    if tier is None or tier in TIERS:
        return tier
    raise FablessError(f"{flag}: unknown tier '{tier}'; choose one of {', '.join(TIERS)}")


def records_for(name: str, tier: str | None = None) -> list[PriceRecord]:
    return [r for r in price_records() if r.chip == name and (tier is None or r.tier == tier)]


def select_price(name: str, tier: str) -> PriceRecord | None:
    """The price of chip ``name`` in ``tier`` by the module's rule, or None (no quote)."""
    check_tier(tier)
    recs = records_for(name, tier)
    if not recs:
        return None
    newest = max(r.date for r in recs if r.date)
    recent = [r for r in recs if r.date and (newest - r.date).days <= WINDOW_DAYS]
    return min(recent, key=lambda r: (r.usd, -r.date.toordinal()))


def buy_price(chip: Chip, tier: str | None = None) -> PriceRecord | None:
    """Purchase price of one chip: a design file's own ``price.list_usd``; else the
    record in ``tier`` when it is a purchase tier (``list``, ``street``), otherwise
    ``list`` then ``street``. None: no purchase price."""
    if chip.price.list_usd is not None:
        return PriceRecord(chip=chip.name, provider="the chip file", tier="list",
                           usd_per_chip=chip.price.list_usd, source="chip file price.list_usd", confidence="assumed")
    if tier in BUY_TIERS:
        return select_price(chip.name, tier)
    return select_price(chip.name, "list") or select_price(chip.name, "street")


def rent_price(chip: Chip, tier: str | None = None) -> PriceRecord | None:
    """Rental price per chip-hour: a design file's own ``price.cloud_usd_per_hr``; else the
    record in ``tier`` when it is a rental tier (``on-demand``, ``1-yr``, ``3-yr``),
    otherwise ``on-demand``. None: no rental price."""
    if chip.price.cloud_usd_per_hr is not None:
        return PriceRecord(chip=chip.name, provider=chip.price.cloud_offer or "the chip file", tier="on-demand",
                           usd_per_chip_hour=chip.price.cloud_usd_per_hr,
                           source="chip file price.cloud_usd_per_hr", confidence="assumed")
    return select_price(chip.name, tier if tier in RENT_TIERS else "on-demand")
