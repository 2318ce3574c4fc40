"""The pages' language: Chinese by default, English from the gettext catalog in locale/.

Message ids are the Chinese texts themselves, so a page reads right even with no catalog. The
language comes from `?lang=`, then the `lang` cookie, then the browser's Accept-Language.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from states.model import State

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"


def N_(text: str) -> str:
    """Mark a text for the catalog without translating it here (it is translated where shown)."""
    return text


def NP_(context: str, text: str) -> str:
    """Mark a text with its context (a state's name reads differently from the event of the same words)."""
    return text


# the domain's labels, kept in states/, are marked here so that extraction puts them in the catalog
STATES = (NP_("state", "已交办"), NP_("state", "整改中"), NP_("state", "申请销号"), NP_("state", "已核验"),
          NP_("state", "已销号"))
LABELS = (
    N_("开始整改"), N_("申请销号"), N_("退回"), N_("核验通过"), N_("销号"), N_("重新打开"), N_("改派"), N_("交办"),
    N_("补充佐证"), N_("申请延期"), N_("批准延期"), N_("不予延期"), N_("逾期"), N_("复查未反弹"),
    N_("下轮巡察发现反弹"), N_("登记整改成效"), N_("立行立改"), N_("限期整改"), N_("长期坚持"),
    N_("责任人"), N_("核验人"), N_("责任领导"), N_("审计"), N_("管理员"), N_("系统"),
)


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of `lang` (Chinese: none needed, the ids are Chinese)."""
    if lang == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation("messages", localedir=LOCALE_DIR, languages=[lang], fallback=True)


def state_label(lang: str, state: str) -> str:
    """A state's name in `lang` (its Chinese label, translated in the "state" context)."""
    return translations(lang).pgettext("state", State(state).label)


def choose(query: str | None, cookie: str | None, accept: str | None) -> str:
    """The language to show: the query's, the cookie's, else the first one the browser accepts."""
    for asked in (query, cookie):
        if asked in LANGUAGES:
            return asked
    for lang, _q in sorted(_accepted(accept or ""), key=lambda x: -x[1]):
        base = lang.split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT


def _accepted(header: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for part in header.split(","):
        lang, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if lang:
            out.append((lang.strip(), q))
    return out
