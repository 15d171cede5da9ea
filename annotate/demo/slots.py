"""Slots: the values a template's ``{name}`` placeholders are filled with, drawn per post.

Values are drawn lazily, so a template only pays for the slots it uses, and from pre-formatted
tables, because formatting numbers per post would dominate the generation time. The words come
from the data file (see :mod:`annotate.demo.data`); the calendar, links and number tables are
made here.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

# The corpus's time window: 2024-09-01 .. 2025-02-28.
START_DAY = date(2024, 9, 1)
N_DAYS = 181

Pair = tuple[tuple[str, ...], tuple[str, ...]]
"""Values by language: (Chinese values, English values)."""


def _day_labels() -> tuple[tuple[str, ...], Pair, Pair]:
    """ISO dates plus Chinese/English day and month labels for every day of the window."""
    days = [START_DAY + timedelta(days=offset) for offset in range(N_DAYS)]
    iso = tuple(day.isoformat() for day in days)
    day_zh = tuple(f"{day.month}月{day.day}日" for day in days)
    day_en = tuple(f"{day:%b} {day.day}" for day in days)
    month_zh = tuple(f"{day.month}月" for day in days)
    month_en = tuple(f"{day:%B}" for day in days)
    return iso, (day_zh, day_en), (month_zh, month_en)


ISO_DAYS, _DAY_LABELS, _MONTH_LABELS = _day_labels()


def _short_links() -> tuple[str, ...]:
    """A fixed pool of t.cn-style short links (the same link is shared by many posts)."""
    alphabet = string.ascii_letters + string.digits
    rng = random.Random("annotate-demo-short-links")
    return tuple("http://t.cn/A6" + "".join(rng.choices(alphabet, k=5)) for _ in range(2048))


_SHORT_LINKS = _short_links()


def _pairs(pairs: Iterable[Iterable[str]]) -> Pair:
    """[zh, en] pairs -> (all zh values, all en values)."""
    pairs = [tuple(pair) for pair in pairs]
    return tuple(zh for zh, _ in pairs), tuple(en for _, en in pairs)


def _both(values: Iterable[str]) -> Pair:
    """Values that read the same in Chinese and English posts."""
    values = tuple(values)
    return values, values


def _decimals(low: float, high: float, step: float) -> tuple[str, ...]:
    count = round((high - low) / step) + 1
    return tuple(f"{low + i * step:.{max(0, -round(math.log10(step)))}f}" for i in range(count))


# Number slots, the same in every corpus.
_NUMBER_SLOTS: dict[str, Pair] = {
    "link": _both(_SHORT_LINKS),
    "pct": _both(_decimals(1.0, 28.0, 0.1)),
    "pct_small": _both(_decimals(0.1, 3.0, 0.1)),
    "price": _both(_decimals(1.5, 20.0, 0.01)),
    # Amounts (in 亿 or bn yuan) spread log-uniformly from 5 to 2,500.
    "amount": _both(str(round(5 * 500 ** (i / 999))) for i in range(1000)),
    "num": _both(str(n) for n in range(2, 10)),
    "num2": _both(str(n) for n in range(10, 301)),
}


def pick(items: tuple[Any, ...], rand: Callable[[], float]) -> Any:
    return items[int(rand() * len(items))]


@dataclass(frozen=True, slots=True)
class Company:
    names: tuple[str, str]
    code: str
    sectors: tuple[str, str]

    @property
    def cashtag(self) -> str:
        """Xueqiu's way of tagging a stock: $名称(SH600000)$."""
        exchange = "SH" if self.code[0] == "6" else "SZ"
        return f"${self.names[0]}({exchange}{self.code})$"


class Slots(dict[str, str]):
    """Slot values for one post; a missing key is drawn on first use and then kept, so a
    template that says ``{bank}`` twice names the same bank twice."""

    __slots__ = ("day", "handles", "lang", "rand", "tables")

    def __init__(
        self,
        tables: SlotTables,
        rand: Callable[[], float],
        lang: int,
        day: int,
        handles: tuple[str, ...],
    ) -> None:
        # dict.__init__ is not called: the mapping starts empty and that is all it would do.
        self.tables = tables
        self.rand = rand
        self.lang = lang  # 0 = Chinese, 1 = English: the index into vocabulary pairs
        self.day = day
        self.handles = handles

    def __missing__(self, key: str) -> str:
        choices = self.tables.simple.get(key)
        if choices is None:
            self.tables.fillers[key](self)
            return self[key]
        values = choices[self.lang]
        value = self[key] = values[int(self.rand() * len(values))]
        return value


class SlotTables:
    """Every slot's values for one data file, and the fillers of slots that come in groups
    (a post about a company quotes that company's own code)."""

    def __init__(self, vocabulary: dict[str, Any]) -> None:
        self.companies = tuple(
            Company((zh, en), str(code), (sector_zh, sector_en))
            for zh, en, code, sector_zh, sector_en in vocabulary["companies"]
        )
        self.banks = tuple(tuple(pair) for pair in vocabulary["banks"])
        self.developers = tuple(tuple(pair) for pair in vocabulary["slots"]["developer"])
        self.policies = tuple(tuple(policy) for policy in vocabulary["policies"])
        self.index_levels = tuple(
            _index_levels(zh, en, low, high) for zh, en, low, high in vocabulary["indices"]
        )
        self.contact_prefixes = tuple(tuple(pair) for pair in vocabulary["contact_prefixes"])
        self.contact_handles = tuple(vocabulary["contact_handles"])
        wan = tuple(vocabulary["wan"])
        #: Slot -> (Chinese values, English values), drawn uniformly.
        self.simple: dict[str, Pair] = {
            **{name: _pairs(pairs) for name, pairs in vocabulary["slots"].items()},
            "company2": _pairs(company.names for company in self.companies),
            # Chinese posts count in 万 (10,000 yuan); English posts spell the amount out.
            "wan": (tuple(str(n) for n in wan), tuple(f"{n * 10_000:,}" for n in wan)),
            **{name: _both(values) for name, values in vocabulary["same_in_both"].items()},
            **_NUMBER_SLOTS,
            **{name: _both(values) for name, values in vocabulary["emoji"].items()},
        }
        self.fillers: dict[str, Callable[[Slots], None]] = {
            "company": self._fill_company,
            "code": self._fill_company,
            "code_hint": self._fill_company,
            "sector": self._fill_company,
            "cashtag": self._fill_company,
            "bank": self._fill_banks,
            "bank2": self._fill_banks,
            "policy": self._fill_policy,
            "policy_body": self._fill_policy,
            "index": self._fill_index,
            "level": self._fill_index,
            "level_low": self._fill_index,
            "date": _fill_date,
            "month": _fill_date,
            "contact": self._fill_contact,
            "mention": _fill_mention,
        }
        self.names = frozenset(self.simple) | frozenset(self.fillers)
        #: What a claim can be about: the slot it fills -> the entities.
        self.entities: dict[str, tuple[Any, ...]] = {
            "company": self.companies,
            "bank": self.banks,
            "developer": self.developers,
        }

    def unknown(self, text: str) -> set[str]:
        """Slot names in a text that no table or filler provides."""
        return {
            name
            for _, name, _, _ in string.Formatter().parse(text)
            if name and name not in self.names
        }

    def set_company(self, slots: Slots, company: Company) -> None:
        slots["company"] = company.names[slots.lang]
        slots["code"] = company.code
        slots["code_hint"] = company.code[:3]
        slots["sector"] = company.sectors[slots.lang]
        slots["cashtag"] = company.cashtag

    def _fill_company(self, slots: Slots) -> None:
        self.set_company(slots, pick(self.companies, slots.rand))

    def _fill_banks(self, slots: Slots) -> None:
        # Two distinct banks, for rumours about one bank swallowing another.
        banks = self.banks
        first = int(slots.rand() * len(banks))
        second = (first + 1 + int(slots.rand() * (len(banks) - 1))) % len(banks)
        slots["bank"] = banks[first][slots.lang]
        slots["bank2"] = banks[second][slots.lang]

    def _fill_policy(self, slots: Slots) -> None:
        body_zh, policy_zh, body_en, policy_en = pick(self.policies, slots.rand)
        slots["policy_body"], slots["policy"] = (
            (body_zh, policy_zh) if slots.lang == 0 else (body_en, policy_en)
        )

    def _fill_index(self, slots: Slots) -> None:
        name_zh, name_en, levels = pick(self.index_levels, slots.rand)
        slots["index"] = name_en if slots.lang else name_zh
        slots["level"], slots["level_low"] = pick(levels, slots.rand)

    def _fill_contact(self, slots: Slots) -> None:
        prefix = pick(self.contact_prefixes, slots.rand)[slots.lang]
        handle = pick(self.contact_handles, slots.rand)
        slots["contact"] = f"{prefix}{handle}{1000 + int(slots.rand() * 9000)}"


def _index_levels(
    name_zh: str, name_en: str, low: float, high: float
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """An index's names and 200 plausible (level, a level 40% lower) pairs."""
    levels = (low + (high - low) * i / 199 for i in range(200))
    pairs = tuple((f"{level:.2f}", str(int(level * 0.6 / 100) * 100)) for level in levels)
    return name_zh, name_en, pairs


def _fill_date(slots: Slots) -> None:
    # Dates in a post point a little ahead of the post itself ("from Oct 18 ...").
    target = min(slots.day + int(slots.rand() * 21), N_DAYS - 1)
    slots["date"] = _DAY_LABELS[slots.lang][target]
    slots["month"] = _MONTH_LABELS[slots.lang][target]


def _fill_mention(slots: Slots) -> None:
    slots["mention"] = "@" + pick(slots.handles, slots.rand)
