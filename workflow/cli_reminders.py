"""CLI commands of the reminder outbox: list the reminders with their state, and send what is due."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from .cli import DbOpt, TableOrJson, _local, _open, _print_json, _settings, app, out
from .reminders import shown

reminders_app = typer.Typer(
    help="Reminders (三色预警) in the outbox: list them with their state, or send what is due.",
    invoke_without_command=True,
)
app.add_typer(reminders_app, name="reminders")

RULES = {"yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警", "progress": "进展报告",
         "recheck": "复查提醒", "recheck_late": "复查逾期"}
STATUSES = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "cancelled": "已取消"}
CHANNELS = {"email": "邮件", "webhook": "Webhook", "wecom": "企业微信", "dingtalk": "钉钉", "log": "日志"}


class Status(StrEnum):
    """The states of a reminder in the outbox."""

    pending = "pending"
    sending = "sending"
    sent = "sent"
    cancelled = "cancelled"


def _item(r: Any) -> dict[str, Any]:
    return {"id": r.id, "target": r.target, "measure": r.code, "rule": r.rule, "window": r.window,
            "recipient": r.recipient, "channel": r.channel, "address": shown(r.address), "status": r.status,
            "attempts": r.attempts, "subject": r.subject, "created_at": r.created_at.isoformat(),
            "next_attempt_at": r.next_attempt_at.isoformat() if r.status == "pending" else None,
            "sent_at": r.sent_at.isoformat() if r.sent_at else None, "last_error": r.last_error,
            "cancelled_reason": r.cancelled_reason}


def _status(r: Any) -> str:
    text: str = STATUSES.get(r.status, r.status)
    if r.status == "pending" and r.attempts:
        text += f"\n[dim]{_local(r.next_attempt_at)} 重试[/]"
    return text


@reminders_app.callback()
def reminders(
    ctx: typer.Context,
    status: Annotated[Status | None, typer.Option("--status", help="Only reminders in this state.")] = None,
    measure: Annotated[str | None, typer.Option("--measure", help="Only this measure (code or number).")] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format")] = TableOrJson.table,
    db: DbOpt = None,
) -> None:
    """List the reminders, oldest first, one line per recipient and channel, with its state and attempts."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"db": db}  # `rectify reminders --db X send` means the same as `… send --db X`
        return
    a = _open(db)
    with a.uow(read_only=True) as uow:
        mid = uow.measures.row(measure).id if measure else None
        rows = uow.schedule.reminders(str(status) if status else None, mid)
    if fmt is TableOrJson.json:
        _print_json([_item(r) for r in rows])
        return
    t = Table(title="整改提醒", header_style="bold")
    for name in ("时间", "措施", "规则", "接收人", "渠道", "状态", "尝试次数", "主题"):
        t.add_column(name, no_wrap=name not in ("状态", "主题"), justify="right" if name == "尝试次数" else "left")
    for r in rows:
        t.add_row(_local(r.created_at), r.code, RULES.get(r.rule, r.rule), r.recipient,
                  CHANNELS.get(r.channel, r.channel), _status(r), str(r.attempts), r.subject)
    out.print(t)


@reminders_app.command("send")
def send(ctx: typer.Context, db: DbOpt = None) -> None:
    """Send the reminders that are due, once (e-mail needs RECTIFY_SMTP_URL); failures are retried later."""
    from jobs.delivery import deliver, worker_name

    a = _open(db or (ctx.obj or {}).get("db"))
    result = deliver(a, _settings(), worker_name())
    out.print(result.line(), highlight=False)
