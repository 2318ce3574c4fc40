"""The vocabulary of rectification: states, events, kinds of measure and roles."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a measure stands in its life."""

    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        """The Chinese label used in ledgers and reports."""
        return STATE_LABELS[self]


STATE_LABELS = {
    State.ASSIGNED: "已交办",
    State.IN_PROGRESS: "整改中",
    State.SUBMITTED: "申请销号",
    State.VERIFIED: "已核验",
    State.CLOSED: "已销号",
}


class Event(StrEnum):
    """Something that happens to a measure and is written to its history."""

    # state-machine events
    START = "start"
    SUBMIT = "submit"
    REJECT = "reject"
    VERIFY = "verify"
    CLOSE = "close"
    REOPEN = "reopen"
    REASSIGN = "reassign"
    # recorded facts that leave the state as it is
    CREATE = "create"
    EVIDENCE = "evidence"
    EXTEND_REQUEST = "extend_request"
    EXTEND_APPROVE = "extend_approve"
    EXTEND_REFUSE = "extend_refuse"
    OVERDUE = "overdue"  # the due date passed before verification (flagged by a sweep)
    RECHECK = "recheck"  # a rebound check found the problem has not come back
    REBOUND = "rebound"  # a later round found the problem again (上轮巡察反馈问题整改不彻底)
    OUTCOME = "outcome"  # outcome figures recorded: rules revised, funds recovered, people held to account

    @property
    def label(self) -> str:
        """The Chinese label used in history tables."""
        return EVENT_LABELS[self]


MACHINE_EVENTS = (
    Event.START,
    Event.SUBMIT,
    Event.REJECT,
    Event.VERIFY,
    Event.CLOSE,
    Event.REOPEN,
    Event.REASSIGN,
)

EVENT_LABELS = {
    Event.START: "开始整改",
    Event.SUBMIT: "申请销号",
    Event.REJECT: "退回",
    Event.VERIFY: "核验通过",
    Event.CLOSE: "销号",
    Event.REOPEN: "重新打开",
    Event.REASSIGN: "改派",
    Event.CREATE: "交办",
    Event.EVIDENCE: "补充佐证",
    Event.EXTEND_REQUEST: "申请延期",
    Event.EXTEND_APPROVE: "批准延期",
    Event.EXTEND_REFUSE: "不予延期",
    Event.OVERDUE: "逾期",
    Event.RECHECK: "复查未反弹",
    Event.REBOUND: "下轮巡察发现反弹",
    Event.OUTCOME: "登记整改成效",
}


class Kind(StrEnum):
    """How a measure is meant to be carried out."""

    IMMEDIATE = "immediate"  # 立行立改
    DEADLINE = "deadline"  # 限期整改
    LONG_TERM = "long_term"  # 长期坚持

    @property
    def label(self) -> str:
        """The Chinese label."""
        return {"immediate": "立行立改", "deadline": "限期整改", "long_term": "长期坚持"}[self.value]


class Role(StrEnum):
    """A part a person plays; on a measure, or across the whole round."""

    OWNER = "owner"  # 责任人
    VERIFIER = "verifier"  # 核验人
    LEADER = "leader"  # 责任领导
    AUDITOR = "auditor"  # 审计/监督
    ADMIN = "admin"  # 管理员
    SYSTEM = "system"  # rectify itself (imports, sweeps)

    @property
    def label(self) -> str:
        """The Chinese label."""
        return {
            "owner": "责任人",
            "verifier": "核验人",
            "leader": "责任领导",
            "auditor": "审计",
            "admin": "管理员",
            "system": "系统",
        }[self.value]
