"""Adoption reporting: districts, their targets, and anonymous "active today" counts.

A beacon that opted in sends one signal a day, at a random time, padded, through the same
endpoint that takes chaff; the server adds one to (district, UTC day) and keeps nothing else:
no device, no address, no time of day. Signals are unauthenticated, so the counts are an upper
bound; counts under ``MIN_SHOWN`` are shown as "< k".
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracer_server.errors import ServerError
from tracer_server.models import ActivityCount, District

__all__ = [
    "MIN_SHOWN",
    "DistrictRow",
    "district_code",
    "load_districts",
    "record_activity",
    "report",
    "report_csv",
    "set_target",
]

MIN_SHOWN = 10
DEFAULT_CSV = "tuyen-quang-2021-05.csv"


def district_code(name: str) -> str:
    """A stable ASCII code from a district's name: "Huyện Chiêm Hóa" → "chiem-hoa"."""
    name = re.sub(r"^(Huyện|Thành phố|TP|Quận|Thị xã)\s+", "", name.strip())
    ascii_name = unicodedata.normalize("NFKD", name.replace("Đ", "D").replace("đ", "d"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def load_districts(db: Session, text: str | None = None) -> list[tuple[str, str]]:
    """Upsert districts from CSV text (``district,...,population,smartphones``); the vendored
    Tuyên Quang table when none is given. Targets already set are kept. Returns (code, name) per
    row: the codes beacons are configured with."""
    if text is None:
        text = (resources.files("tracer_server") / "data" / DEFAULT_CSV).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not {"district", "population", "smartphones"} <= set(rows[0]):
        raise ServerError("the CSV needs the columns district, population, smartphones")
    loaded: dict[str, str] = {}
    for row in rows:
        try:
            population, smartphones = int(row["population"]), int(row["smartphones"])
        except ValueError:
            raise ServerError(
                f"population and smartphones must be whole numbers ({row['district']})"
            ) from None
        code = district_code(row["district"])
        if not code:
            raise ServerError(f"district name {row['district']!r} gives no code (no letters or digits)")
        if code in loaded:
            # Two names, one code: their beacons' signals would be counted as one district.
            raise ServerError(f"{loaded[code]!r} and {row['district']!r} both give the code {code!r}")
        loaded[code] = row["district"]
        existing = db.get(District, code)
        if existing is None:
            db.add(District(code=code, name=row["district"], population=population, smartphones=smartphones))
        else:
            existing.name, existing.population, existing.smartphones = (
                row["district"],
                population,
                smartphones,
            )
    return list(loaded.items())


def record_activity(db: Session, district: str, now: datetime) -> None:
    """Add one to (district, UTC day): one atomic upsert, safe across server processes."""
    if db.get(District, district) is None:
        raise ServerError("unknown district code")
    table: Any = ActivityCount.__table__
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement: Any = insert(table).values(district=district, day=now.date(), count=1)
    db.execute(
        statement.on_conflict_do_update(index_elements=["district", "day"], set_={"count": table.c.count + 1})
    )


def set_target(db: Session, district: str, share: float | None, deadline: date | None) -> None:
    row = db.get(District, district)
    if row is None:
        raise ServerError("unknown district code")
    if share is not None and not 0 < share <= 1:
        raise ServerError("the target is a share of smartphone owners between 0 and 100 %")
    row.target_share, row.deadline = share, deadline


@dataclass(frozen=True)
class DistrictRow:
    code: str
    name: str
    population: int
    smartphones: int
    active: int
    target_share: float | None
    deadline: date | None
    history: list[tuple[date, int]]

    @property
    def shown(self) -> str:
        return f"< {MIN_SHOWN}" if self.active < MIN_SHOWN else str(self.active)

    # Shares of a count under MIN_SHOWN are not given either: times the population, they are it.
    @property
    def share_population(self) -> float | None:
        return self.active / self.population if self.population and self.active >= MIN_SHOWN else None

    @property
    def share_smartphones(self) -> float | None:
        return self.active / self.smartphones if self.smartphones and self.active >= MIN_SHOWN else None

    @property
    def progress(self) -> float | None:
        share = self.share_smartphones
        return share / self.target_share if self.target_share and share is not None else None


def report(db: Session, today: date, days: int = 14) -> list[DistrictRow]:
    """Per district: the last complete day's count (yesterday), its shares, target, history."""
    since = today - timedelta(days=days)
    counts: dict[str, dict[date, int]] = {}
    for row in db.scalars(select(ActivityCount).where(ActivityCount.day >= since)):
        counts.setdefault(row.district, {})[row.day] = row.count
    out = []
    for district in db.scalars(select(District).order_by(District.name)):
        per_day = counts.get(district.code, {})
        history = [
            (since + timedelta(days=k), per_day.get(since + timedelta(days=k), 0)) for k in range(days)
        ]
        active = per_day.get(today - timedelta(days=1), 0)
        out.append(
            DistrictRow(
                district.code,
                district.name,
                district.population,
                district.smartphones,
                active,
                district.target_share,
                district.deadline,
                history,
            )
        )
    return out


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting with ``= + - @``, tab or CR would be run
    as a formula (OWASP's CSV injection), so it gets a leading ``'``. District names come from
    whatever CSV an administrator loaded."""
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def report_csv(rows: list[DistrictRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["district", "code", "population", "smartphones", "active_devices", "share_of_population",
                     "share_of_smartphones", "target_share_of_smartphones", "deadline"])  # fmt: skip
    for r in rows:
        writer.writerow(_csv_cell(cell) for cell in [
            r.name, r.code, r.population, r.smartphones, r.shown, _share(r.share_population),
            _share(r.share_smartphones), _share(r.target_share),
            r.deadline.isoformat() if r.deadline else "",
        ])  # fmt: skip
    return out.getvalue()
