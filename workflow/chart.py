"""A small chart of progress over time (measures closed by date), as SVG or PNG.

SVG is written by hand: no dependency, and its Chinese text is drawn with the viewer's fonts.
PNG is drawn with Pillow; its labels are Chinese when a CJK font is found on the machine
(fontconfig, or the usual font folders), else English, so it works on a bare machine too.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts",
             Path("/System/Library/Fonts"), Path("C:/Windows/Fonts"))
CJK_NAMES = ("NotoSansCJK", "NotoSerifCJK", "SourceHanSans", "wqy-zenhei", "wqy-microhei", "msyh", "simhei",
             "simsun", "PingFang", "DroidSansFallback")


@dataclass(frozen=True)
class Progress:
    """A cumulative count by day, against the total it counts towards."""

    title: str
    label: str  # what is counted, e.g. 已销号整改措施
    days: list[tuple[date, int]]  # every day from the first to the last, in order
    total: int
    title_en: str = "Progress"
    label_en: str = "measures closed"


@dataclass(frozen=True)
class _Frame:
    """Where things go: the plot area inside a width × height picture."""

    width: int = 720
    height: int = 360
    left: int = 56
    right: int = 24
    top: int = 48
    bottom: int = 48

    def x(self, i: int, n: int) -> float:
        span = self.width - self.left - self.right
        return self.left + (span * i / (n - 1) if n > 1 else span / 2)

    def y(self, value: int, top_value: int) -> float:
        span = self.height - self.top - self.bottom
        return self.height - self.bottom - span * value / max(top_value, 1)


def _ticks(top: int) -> list[int]:
    """About five round steps from 0 to `top`."""
    if top <= 0:
        return [0]
    raw = top / 5
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 10**9)
                if s >= raw)
    return list(range(0, top + 1, step)) + ([top] if top % step else [])


def _months(days: list[tuple[date, int]]) -> list[tuple[int, str]]:
    """(index, label) of the first day of each month shown, thinned to at most eight."""
    found = [(i, f"{d.year}-{d.month:02d}") for i, (d, _) in enumerate(days) if d.day == 1 or i == 0]
    step = max(1, -(-len(found) // 8))
    return found[::step]


def _steps(p: Progress, f: _Frame) -> list[tuple[float, float]]:
    """The cumulative line as a step path (the count holds until the next day's)."""
    n = len(p.days)
    pts: list[tuple[float, float]] = []
    for i, (_, v) in enumerate(p.days):
        x, y = f.x(i, n), f.y(v, p.total)
        if pts:
            pts.append((x, pts[-1][1]))
        pts.append((x, y))
    return pts


def svg(p: Progress) -> str:
    """The chart as an SVG document."""
    f = _Frame()
    n = len(p.days)
    font = "font-family=\"'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif\""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{f.width}" height="{f.height}" '
           f'viewBox="0 0 {f.width} {f.height}" {font} font-size="12">',
           f'<rect width="{f.width}" height="{f.height}" fill="#fff"/>',
           f'<text x="{f.width / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">'
           f'{escape(p.title)}</text>']
    for t in _ticks(p.total):
        y = f.y(t, p.total)
        out.append(f'<line x1="{f.left}" y1="{y:.1f}" x2="{f.width - f.right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{f.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{t}</text>')
    for i, label in _months(p.days):
        x = f.x(i, n)
        out.append(f'<line x1="{x:.1f}" y1="{f.height - f.bottom}" x2="{x:.1f}" y2="{f.height - f.bottom + 4}" '
                   f'stroke="#555"/>')
        out.append(f'<text x="{x:.1f}" y="{f.height - f.bottom + 18}" text-anchor="middle" fill="#555">'
                   f'{label}</text>')
    total_y = f.y(p.total, p.total)
    out.append(f'<line x1="{f.left}" y1="{total_y:.1f}" x2="{f.width - f.right}" y2="{total_y:.1f}" '
               f'stroke="#999" stroke-dasharray="4 3"/>')
    if p.days:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in _steps(p, f))
        out.append(f'<polyline points="{path}" fill="none" stroke="#c0392b" stroke-width="2"/>')
        last_x, last_y = f.x(n - 1, n), f.y(p.days[-1][1], p.total)
        out.append(f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3" fill="#c0392b"/>')
    out.append(f'<text x="{f.left + 8}" y="{f.top - 6}" fill="#c0392b">{escape(p.label)} '
               f'{p.days[-1][1] if p.days else 0}/{p.total}</text>')
    out.append("</svg>\n")
    return "\n".join(out)


def cjk_font() -> Path | None:
    """A font file with Chinese glyphs on this machine, if any."""
    if shutil.which("fc-list"):
        try:
            listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10,
                                    check=False).stdout
        except (OSError, subprocess.SubprocessError):
            listed = ""
        files = sorted(line.split(":")[0].strip() for line in listed.splitlines() if line.strip())
        regular = [f for f in files if "Bold" not in f] or files
        if regular:
            return Path(regular[0])
    for folder in FONT_DIRS:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in (".ttf", ".ttc", ".otf") and any(n in path.name for n in CJK_NAMES):
                    return path
    return None


def png(p: Progress, font: Path | None | bool = True) -> bytes:
    """The chart as PNG; `font` a CJK font file, True to look for one, None/False for English labels."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    found = cjk_font() if font is True else (font or None)
    chinese = isinstance(found, Path)
    scale = 2  # drawn at twice the size for crisp lines
    f = _Frame()

    def face(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        if isinstance(found, Path):
            return ImageFont.truetype(str(found), size * scale)
        return ImageFont.load_default(size * scale)

    img = Image.new("RGB", (f.width * scale, f.height * scale), "white")
    d = ImageDraw.Draw(img)
    n = len(p.days)

    def at(x: float, y: float) -> tuple[float, float]:
        return x * scale, y * scale

    title = p.title if chinese else p.title_en
    d.text(at(f.width / 2, 16), title, fill="black", font=face(16), anchor="mt")
    for t in _ticks(p.total):
        y = f.y(t, p.total)
        d.line([at(f.left, y), at(f.width - f.right, y)], fill="#dddddd", width=scale)
        d.text(at(f.left - 6, y), str(t), fill="#555555", font=face(12), anchor="rm")
    for i, label in _months(p.days):
        x = f.x(i, n)
        d.line([at(x, f.height - f.bottom), at(x, f.height - f.bottom + 4)], fill="#555555", width=scale)
        d.text(at(x, f.height - f.bottom + 10), label, fill="#555555", font=face(12), anchor="mt")
    total_y = f.y(p.total, p.total)
    x = float(f.left)
    while x < f.width - f.right:  # dashed: the total
        d.line([at(x, total_y), at(min(x + 4, f.width - f.right), total_y)], fill="#999999", width=scale)
        x += 7
    if p.days:
        d.line([at(*pt) for pt in _steps(p, f)], fill="#c0392b", width=2 * scale)
        cx, cy = at(f.x(n - 1, n), f.y(p.days[-1][1], p.total))
        d.ellipse([cx - 3 * scale, cy - 3 * scale, cx + 3 * scale, cy + 3 * scale], fill="#c0392b")
    label = p.label if chinese else p.label_en
    d.text(at(f.left + 8, f.top - 6), f"{label} {p.days[-1][1] if p.days else 0}/{p.total}", fill="#c0392b",
           font=face(12), anchor="ls")
    img = img.resize((f.width, f.height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def daily(start: date, end: date, changes: dict[date, int]) -> list[tuple[date, int]]:
    """A running total for every day from `start` to `end`, given each day's net change."""
    out: list[tuple[date, int]] = []
    running = sum(v for d, v in changes.items() if d < start)
    day = start
    while day <= end:
        running += changes.get(day, 0)
        out.append((day, running))
        day += timedelta(days=1)
    return out
