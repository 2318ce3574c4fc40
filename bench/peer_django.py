"""The peer in bench/transition_rate.py: the same measure life in Django, with django-fsm-2 and django-fsm-log.

A minimal Django project configured in code (`configure`): contenttypes, auth, django_fsm_log, and this
module as the app that holds the two models. `Measure` has an FSMField and one @transition per step of
the life assigned → in_progress → submitted → verified → closed. Submitting needs a summary and
evidence (conditions); who may fire a step is a `permission`, and verify and close also refuse the
measure's owner (the guard rectify has). Every transition is decorated with django-fsm-log's
@fsm_log_by and @fsm_log_description, so its post_transition signal writes a StateLog row, and
`ConcurrentTransitionMixin` makes the save an `UPDATE … WHERE id=? AND state=<as loaded>`.

`fire` is what a view would do, in one `transaction.atomic()`: load the measure and the user, add the
evidence (on submit), check the permission, run the transition (StateLog INSERT), save.

Durability as rectify's: SQLite in WAL with synchronous=FULL (PRAGMAs from a connection_created
signal) and BEGIN IMMEDIATE (Django's `transaction_mode`, 5.1+); PostgreSQL with the server's
settings (READ COMMITTED, synchronous_commit as configured).

Django's settings can be configured once per process, so the benchmark calls this only in child
processes: one to build the tables and rows, one per worker, one to check the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any
from urllib.parse import urlsplit

APP = "peer_django"  # this module is the Django app (bench/ is on sys.path when a script runs)
_models: dict[str, Any] = {}


def _sqlite_pragmas(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")


def configure(backend: str, target: str) -> None:
    """Configure Django for a SQLite file or a PostgreSQL URL, set it up, and define the models."""
    import django
    from django.conf import settings
    from django.db.backends.signals import connection_created

    if backend == "sqlite":
        db: dict[str, Any] = {"ENGINE": "django.db.backends.sqlite3", "NAME": target,
                              # as rectify's engine: wait up to 60 s for the lock, take it at BEGIN
                              "OPTIONS": {"timeout": 60, "transaction_mode": "IMMEDIATE"}}
    else:
        u = urlsplit(target)
        db = {"ENGINE": "django.db.backends.postgresql", "NAME": u.path.lstrip("/"), "USER": u.username or "",
              "PASSWORD": u.password or "", "HOST": u.hostname or "", "PORT": str(u.port or 5432)}
    settings.configure(
        DEBUG=False,  # DEBUG keeps every query in memory
        SECRET_KEY="bench", USE_TZ=True, TIME_ZONE="UTC",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_fsm_log", APP],
        DATABASES={"default": db}, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    connection_created.connect(_sqlite_pragmas)
    django.setup()
    _define_models()


def _define_models() -> None:
    from django.contrib.auth.models import User
    from django.db import models
    from django.utils import timezone
    from django_fsm import ConcurrentTransitionMixin, FSMField, transition
    from django_fsm_log.decorators import fsm_log_by, fsm_log_description

    def has_summary(m: Any) -> bool:
        return bool(m.summary.strip())

    def has_evidence(m: Any) -> bool:
        return bool(m.evidence_count > 0)

    def is_owner(m: Any, user: Any) -> bool:
        return bool(user.username == m.owner)

    def is_verifier_not_owner(m: Any, user: Any) -> bool:
        return bool(user.username == m.verifier and user.username != m.owner)

    def is_leader_not_owner(m: Any, user: Any) -> bool:
        return bool(user.username == m.leader and user.username != m.owner)

    class Measure(ConcurrentTransitionMixin, models.Model):
        code = models.CharField(max_length=64, unique=True)
        title = models.CharField(max_length=200)
        state = FSMField(default="assigned", protected=True)
        owner = models.CharField(max_length=64)
        verifier = models.CharField(max_length=64)
        leader = models.CharField(max_length=64)
        due = models.DateField()
        evidence_count = models.IntegerField(default=0)
        summary = models.TextField(blank=True, default="")
        updated_at = models.DateTimeField(auto_now=True)

        class Meta:
            app_label = APP

        @fsm_log_by
        @fsm_log_description
        @transition(field=state, source="assigned", target="in_progress", permission=is_owner)
        def start(self, by: Any = None, description: Any = None) -> None:
            pass

        @fsm_log_by
        @fsm_log_description
        @transition(field=state, source="in_progress", target="submitted", conditions=[has_summary, has_evidence],
                    permission=is_owner)
        def submit(self, by: Any = None, description: Any = None) -> None:
            pass

        @fsm_log_by
        @fsm_log_description
        @transition(field=state, source="submitted", target="verified", permission=is_verifier_not_owner)
        def verify(self, by: Any = None, description: Any = None) -> None:
            pass

        @fsm_log_by
        @fsm_log_description
        @transition(field=state, source="verified", target="closed", permission=is_leader_not_owner)
        def close(self, by: Any = None, description: Any = None) -> None:
            pass

    class Evidence(models.Model):
        measure = models.ForeignKey(Measure, on_delete=models.CASCADE, related_name="evidence")
        sha256 = models.CharField(max_length=64)
        note = models.TextField()
        added_by = models.ForeignKey(User, on_delete=models.PROTECT)
        added_at = models.DateTimeField(default=timezone.now)

        class Meta:
            app_label = APP

    _models.update(Measure=Measure, Evidence=Evidence, User=User)


def create(people: Sequence[str], measures: Sequence[dict[str, Any]]) -> None:
    """The tables (django's migrations, then ours) and the rows: one user per person, measures assigned."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.schema_editor() as editor:
        editor.create_model(_models["Measure"])
        editor.create_model(_models["Evidence"])
    _models["User"].objects.bulk_create([_models["User"](username=p) for p in people])
    _models["Measure"].objects.bulk_create(
        [_models["Measure"](code=m["code"], title=m["code"], owner=m["owner"], verifier=m["verifier"],
                            leader=m["leader"], due=date.fromisoformat(m["due"])) for m in measures],
        batch_size=500)


class Refused(Exception):
    """The peer's refusal: not permitted, or a condition not met."""


def fire(code: str, event: str, actor: str, reason: str = "", note: str = "") -> None:
    """One persisted transition, as a view would run it."""
    from django.db import transaction

    with transaction.atomic():
        m = _models["Measure"].objects.get(code=code)
        user = _models["User"].objects.get(username=actor)
        if note:  # the evidence first: the submit condition wants it
            _models["Evidence"].objects.create(measure=m, sha256=hashlib.sha256(note.encode()).hexdigest(),
                                               note=note, added_by=user)
            m.evidence_count += 1
        if reason:
            m.summary = reason
        step = getattr(m, event)
        from django_fsm import has_transition_perm

        if not has_transition_perm(step, user):
            raise Refused(f"{actor} may not {event} {code} (state {m.state})")
        step(by=user, description=reason or None)  # post_transition → StateLog INSERT
        m.save()  # UPDATE … WHERE id=? AND state=<as loaded>, else ConcurrentTransition


def counts() -> dict[str, int]:
    """What the run left: measures by state, StateLog and evidence rows."""
    from django.db.models import Count
    from django_fsm_log.models import StateLog

    out = {f"state {r['state']}": r["n"] for r in
           _models["Measure"].objects.values("state").annotate(n=Count("id")).order_by()}
    out["statelog"] = StateLog.objects.count()
    out["evidence"] = _models["Evidence"].objects.count()
    return out
