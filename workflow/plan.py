"""The plan file (整改方案): an inspection round, its people, problem tree and measures.

A plan is YAML or JSON checked by these pydantic models; `rectify plan schema` prints the
JSON Schema. Errors name the file, the path inside it and the field.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from states.errors import InvalidPlan
from states.model import Kind, Role
from states.policy import Policy

Handle = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64,
                              description="a short ASCII id, used on the command line (--as)")]


M = TypeVar("M", bound=BaseModel)

NOTIFY_SCHEMES = ("json", "jsons", "wecombot", "dingtalk", "mailto")


class Strict(BaseModel):
    """Unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Period(Strict):
    """A span of local dates, both ends included."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class RulePlan(Strict):
    """One colour of the escalation (三色预警)."""

    name: str = Field(min_length=1, description="e.g. yellow, orange, red")
    to: list[Literal["owner", "verifier", "leader", "unit_head"]] = Field(min_length=1)
    days_before: int | None = Field(None, ge=0, description="fires when this many (working) days or fewer are left")
    overdue: bool = Field(False, description="fires once the due date has passed")
    every: int | None = Field(None, ge=1, description="while overdue, again every this many days")
    label: str = ""

    @model_validator(mode="after")
    def _when(self) -> RulePlan:
        if (self.days_before is None) == (not self.overdue):
            raise ValueError("a rule has either days_before or overdue: true")
        return self


class PolicyPlan(Strict):
    """Reminder and rebound-check policy of a round; anything left out keeps the default."""

    rules: list[RulePlan] | None = None
    working_days: bool | None = Field(None, description="count days before the due date in working days (调休 aware)")
    progress_every_months: int | None = Field(None, ge=1, le=12, description="long-term measures report this often")
    progress_grace_days: int | None = Field(None, ge=0)
    recheck_after_days: dict[Kind, list[int]] | None = Field(
        None, description="rebound checks after a close-out, per kind (long_term ignores this)")
    recheck_long_term_every_months: int | None = Field(None, ge=1, le=24)
    recheck_answer_days: int | None = Field(None, ge=1)


class InspectionPlan(Strict):
    """One inspection round (巡察/巡视/审计) by one group."""

    code: Handle
    name: str = Field(min_length=1, description="e.g. 区委第二巡察组巡察区投促局党组")
    kind: str = Field("巡察", description="巡察, 巡视 or 审计")
    group: str = Field("", description="the inspection group, e.g. 区委第二巡察组")
    period: Period | None = Field(None, description="when the inspection group was on site")
    feedback_date: date = Field(description="the day the feedback (反馈意见) was given")
    rectification_period: Period | None = Field(None, description="集中整改期")
    timezone: str = "Asia/Shanghai"
    policy: PolicyPlan | None = Field(None, description="overrides of the default reminder policy")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class UnitPlan(Strict):
    """A unit (责任部门) of an inspected body."""

    code: Handle
    name: str = Field(min_length=1)
    head: Handle | None = Field(None, description="the person heading the unit")


class PersonPlan(Strict):
    """A person who owns, verifies, leads, audits or administers measures."""

    id: Handle
    name: str = Field(min_length=1, description="name or role title, e.g. 党组书记")
    unit: Handle | None = None
    roles: list[Role] = Field(min_length=1)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    notify: list[str] = Field(default_factory=list,
                              description="notification URLs: json://host/path (webhook), wecombot://KEY, dingtalk://TOKEN/")

    @field_validator("notify")
    @classmethod
    def _known_schemes(cls, v: list[str]) -> list[str]:
        for url in v:
            if url.split("://", 1)[0] not in NOTIFY_SCHEMES:
                raise ValueError(f"{url!r}: use one of {', '.join(s + '://' for s in NOTIFY_SCHEMES)}")
        return v

    @field_validator("roles")
    @classmethod
    def _no_system(cls, v: list[Role]) -> list[Role]:
        if Role.SYSTEM in v:
            raise ValueError("the system role is rectify's own")
        return v


class MeasurePlan(Strict):
    """A measure (整改措施) with its people and deadline."""

    ref: str = Field(min_length=1, description="its number in the problem, e.g. (1)")
    title: str = Field(min_length=1, description="the measure in a line")
    text: str = Field("", description="the full text of the measure")
    kind: Kind = Kind.DEADLINE
    owner: Handle
    verifier: Handle
    leader: Handle
    unit: Handle | None = None
    due: date


class ProblemPlan(Strict):
    """A problem (反馈问题 numbered 1. 2. …) with its points (一是/二是) and measures."""

    ref: str = Field("", description="its number under the heading, e.g. 1; empty when the heading has one")
    text: str = Field(min_length=1)
    repeats: str | None = Field(None, description="an earlier round's problem (tcj-4.1) or measure (tcj-4.1.2) this "
                                "problem repeats (上轮巡察反馈问题整改不彻底)")
    points: list[str] = Field(default_factory=list, description="一是…, 二是… in order")
    measures: list[MeasurePlan] = Field(min_length=1)


class HeadingPlan(Strict):
    """A heading of the feedback ((一)(二)…), grouping problems."""

    ref: str = Field(min_length=1, description="e.g. 一")
    title: str = Field(min_length=1)
    problems: list[ProblemPlan] = Field(min_length=1)


class BodyPlan(Strict):
    """An inspected body (被巡察单位) and the feedback it received."""

    code: Handle
    name: str = Field(min_length=1)
    headings: list[HeadingPlan] = Field(min_length=1)


class Plan(Strict):
    """A whole plan file."""

    inspection: InspectionPlan
    units: list[UnitPlan] = Field(default_factory=list)
    people: list[PersonPlan] = Field(min_length=1)
    bodies: list[BodyPlan] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Plan:
        """Every handle used is defined once, and people hold the parts given to them."""
        errors: list[tuple[str, str]] = []
        units = _unique(self.units, "code", "units", errors)
        people = _unique(self.people, "id", "people", errors)
        _unique(self.bodies, "code", "bodies", errors)
        for i, u in enumerate(self.units):
            if u.head and u.head not in people:
                errors.append((f"units[{i}].head", f"no person {u.head!r} in people"))
        for i, p in enumerate(self.people):
            if p.unit and p.unit not in units:
                errors.append((f"people[{i}].unit", f"no unit {p.unit!r} in units"))
        for bi, b in enumerate(self.bodies):
            for hi, h in enumerate(b.headings):
                for pi, pr in enumerate(h.problems):
                    refs: set[str] = set()
                    for mi, m in enumerate(pr.measures):
                        where = f"bodies[{bi}].headings[{hi}].problems[{pi}].measures[{mi}]"
                        if m.ref in refs:
                            errors.append((f"{where}.ref", f"measure {m.ref!r} appears twice in this problem"))
                        refs.add(m.ref)
                        for part in (Role.OWNER, Role.VERIFIER, Role.LEADER):
                            handle = getattr(m, part.value)
                            person = people.get(handle)
                            if person is None:
                                errors.append((f"{where}.{part.value}", f"no person {handle!r} in people"))
                            elif part not in person.roles:
                                errors.append((f"{where}.{part.value}",
                                               f"{handle!r} does not have the {part.value} role"))
                        if m.verifier == m.owner:
                            errors.append((f"{where}.verifier", "the verifier must not be the owner"))
                        if m.leader == m.owner:
                            errors.append((f"{where}.leader", "the leader must not be the owner"))
                        if m.unit and m.unit not in units:
                            errors.append((f"{where}.unit", f"no unit {m.unit!r} in units"))
        if errors:
            raise ValueError("; ".join(f"{w}: {e}" for w, e in errors[:1]) + _more(errors))
        return self


def _more(errors: list[Any]) -> str:
    return f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""


def _unique(items: list[Any], key: str, where: str, errors: list[tuple[str, str]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for i, it in enumerate(items):
        k = getattr(it, key)
        if k in seen:
            errors.append((f"{where}[{i}].{key}", f"{k!r} is defined twice"))
        seen[k] = it
    return seen


def schema() -> dict[str, Any]:
    """The plan file's JSON Schema."""
    return Plan.model_json_schema()


def load(path: str | Path) -> Plan:
    """Read and check a plan file (YAML or JSON); InvalidPlan names file, path and field."""
    return check(str(path), read(path), Plan)


def read(path: str | Path) -> Any:
    """The data of a YAML or JSON file, unchecked; InvalidPlan when it cannot be read or parsed."""
    p = Path(path)
    name = str(path)
    try:
        raw_text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidPlan(name, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidPlan(name, "", f"cannot be read: {e}") from None
    return _parse(name, p.suffix.lower(), raw_text)


def check(name: str, data: Any, model: type[M]) -> M:
    """Data checked by a model of this module; InvalidPlan names `name`, the path and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = _path(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "this field is required"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise InvalidPlan(name, where or "top level", msg + more) from None


def _parse(name: str, suffix: str, text: str) -> Any:
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidPlan(name, f"line {e.lineno} column {e.colno}", f"not valid JSON: {e.msg}") from None
    import yaml

    class _Loader(yaml.SafeLoader):
        """YAML without implicit timestamps: dates stay text for pydantic to check and locate."""

    _Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise InvalidPlan(name, where, f"not valid YAML: {getattr(e, 'problem', None) or e}") from None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def policy_from(stored: dict[str, Any] | None) -> Policy:
    """The round's policy: the defaults, with what its plan overrides."""
    from dataclasses import replace

    from states.policy import Policy, Rule

    base = Policy()
    if not stored:
        return base
    p = PolicyPlan.model_validate(stored)
    changes: dict[str, Any] = {k: v for k, v in p.model_dump(exclude_none=True).items()
                               if k not in ("rules", "recheck_after_days")}
    if p.rules is not None:
        changes["rules"] = tuple(Rule(r.name, tuple(r.to), r.days_before, r.overdue, r.every, r.label or r.name)
                                 for r in p.rules)
    if p.recheck_after_days is not None:
        changes["recheck_after_days"] = {**base.recheck_after_days,
                                         **{k.value: tuple(v) for k, v in p.recheck_after_days.items()}}
    return replace(base, **changes)
