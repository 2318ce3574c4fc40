"""Outcome figures (整改成效) that published reports add up: rules, funds, people held to account."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import InvalidInput

YUAN_PER_WAN = 10_000

# the people held to account, by kind, in the order reports list them
ACCOUNTABILITY = {
    "criticised": "批评教育",
    "admonished": "诫勉谈话",
    "org_handled": "组织处理",
    "disciplined": "纪律处分",
}


@dataclass(frozen=True)
class Figures:
    """What one measure (or a sum of measures) achieved; funds in 元 so sums stay exact."""

    rules: int = 0  # 制度 written or revised (建立完善制度, 项)
    funds_yuan: int = 0  # funds recovered or returned (追缴/清退资金)
    criticised: int = 0  # 批评教育 (人)
    admonished: int = 0  # 诫勉谈话 (人)
    org_handled: int = 0  # 组织处理 (人)
    disciplined: int = 0  # 纪律处分 (人)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInput(f.name, f"must be a whole number, 0 or more (got {value!r})")

    def __add__(self, other: Figures) -> Figures:
        return Figures(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def people(self) -> int:
        """Everybody held to account, of every kind."""
        return self.criticised + self.admonished + self.org_handled + self.disciplined

    @property
    def funds_wan(self) -> Decimal:
        """The funds in 万元, exact."""
        return Decimal(self.funds_yuan) / YUAN_PER_WAN

    @property
    def funds_text(self) -> str:
        """The funds in 万元 as reports print them: 12.5, 0.35, 3."""
        text = f"{self.funds_wan:.4f}".rstrip("0").rstrip(".")
        return text or "0"

    @property
    def empty(self) -> bool:
        """Nothing recorded."""
        return self == Figures()

    @property
    def text(self) -> str:
        """The non-zero figures in a line: 制度3项、资金12.5万元、批评教育2人."""
        parts = [f"制度{self.rules}项"] if self.rules else []
        parts += [f"资金{self.funds_text}万元"] if self.funds_yuan else []
        parts += [f"{label}{getattr(self, key)}人" for key, label in ACCOUNTABILITY.items() if getattr(self, key)]
        return "、".join(parts) or "无"

    def as_data(self) -> dict[str, int]:
        """The figures as they go into a history record."""
        return asdict(self)

    def as_json(self) -> dict[str, Any]:
        """The figures with their sums, for JSON output."""
        return {**asdict(self), "funds_wan": float(self.funds_wan), "people": self.people}

    def merged(self, changes: Mapping[str, int | None]) -> Figures:
        """These figures with the given ones replaced (None leaves a figure as it is)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise InvalidInput("figures", f"unknown figure(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Figures:
        """The figures a history record carries (keys it lacks count as 0)."""
        return cls(**{f.name: int(data.get(f.name, 0)) for f in fields(cls)})


def total(figures: Iterable[Figures]) -> Figures:
    """The sum of many measures' figures."""
    out = Figures()
    for f in figures:
        out = out + f
    return out


def yuan_from_wan(text: str) -> int:
    """万元 as typed (e.g. "12.5") to whole 元; more precision than 1 元 is an error."""
    try:
        yuan = Decimal(text.strip()) * YUAN_PER_WAN
    except InvalidOperation:
        raise InvalidInput("--funds", f"{text!r} is not an amount in 万元 (e.g. 12.5)") from None
    if not yuan.is_finite() or yuan < 0 or yuan != yuan.to_integral_value():
        raise InvalidInput("--funds", f"{text!r}: give 0 or more 万元, to at most 4 decimals (1 元)")
    return int(yuan)
