"""The state machine drawn as SVG, laid out by hand from the same transition table the machine is built from.

States stand in a column in their order; a step to the next state is an arrow down, a step back
is an arc on the left (wider the further back it goes), a jump ahead an arc on the right, and an
event that keeps the state a small loop beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from states.machine import TRANSITIONS
from states.model import Event, State

WIDTH, BOX_W, BOX_H, ROW, TOP = 420, 150, 46, 104, 56
CX = 230  # the column's centre: room on the left for the arcs back
FONT = "font-family=\"'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif\""


@dataclass(frozen=True)
class Edge:
    """One arrow: from a state to a state (the same for a loop), named by its event."""

    source: State
    dest: State
    event: Event


def edges() -> list[Edge]:
    """Every (source, dest, event) of the machine's transition table."""
    out: list[Edge] = []
    for t in TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        for s in sources:
            dest = s if t["dest"] == "=" else t["dest"]
            out.append(Edge(State(s), State(dest), Event(t["trigger"])))
    return out


def _y(state: State) -> float:
    return TOP + list(State).index(state) * ROW


def svg(label: Callable[[str], str] = str, state_label: Callable[[str], str] | None = None) -> str:
    """The diagram as an inline SVG element; `label` translates the Chinese event labels, `state_label`
    names a state."""
    order = list(State)
    height = TOP + (len(order) - 1) * ROW + BOX_H + 24
    left, right = CX - BOX_W / 2, CX + BOX_W / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
           f'height="{height}" {FONT} font-size="13" role="img" aria-label="{escape(label("整改措施状态流转图"))}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5f6670"/></marker></defs>',
           f'<circle cx="{CX}" cy="{TOP - 38}" r="6" fill="#1f2328"/>',
           f'<line x1="{CX}" y1="{TOP - 32}" x2="{CX}" y2="{TOP - 2}" stroke="#5f6670" stroke-width="1.5" '
           f'marker-end="url(#arrow)"/>']
    back_arcs = fwd_arcs = 0
    loops: set[State] = set()
    for e in edges():
        i, j = order.index(e.source), order.index(e.dest)
        text = escape(label(e.event.label))
        y1, y2 = _y(e.source), _y(e.dest)
        if j == i + 1:
            x = float(CX)
            out.append(f'<line x1="{x}" y1="{y1 + BOX_H}" x2="{x}" y2="{y2 - 2}" stroke="#5f6670" stroke-width="1.5" '
                       f'marker-end="url(#arrow)"/>')
            out.append(f'<text x="{x + 8}" y="{(y1 + BOX_H + y2) / 2 + 4}" fill="#1f2328" class="edge" '
                       f'data-event="{e.event.value}">{text}</text>')
        elif i == j:
            if e.source in loops:
                continue
            loops.add(e.source)
            cy = y1 + BOX_H / 2
            out.append(f'<path d="M{right},{cy - 10} C{right + 40},{cy - 26} {right + 40},{cy + 26} '
                       f'{right + 2},{cy + 10}" fill="none" stroke="#9aa0a6" stroke-width="1.2" '
                       'marker-end="url(#arrow)"/>')
            out.append(f'<text x="{right + 38}" y="{cy + 4}" fill="#5f6670" font-size="12" class="edge" '
                       f'data-event="{e.event.value}">{text}</text>')
        else:
            backwards = j < i
            if backwards:
                back_arcs += 1
            else:
                fwd_arcs += 1
            k = back_arcs if backwards else fwd_arcs
            off = 24 + 40 * k
            x, bend = (left, left - off) if backwards else (right, right + off)
            # each arc leaves its source box at the middle and arrives at its own height on the target
            a, b = y1 + BOX_H / 2 + 6, y2 + 6 + 9 * (k - 1)
            colour = "#c5221f" if backwards else "#5f6670"
            out.append(f'<path d="M{x},{a} C{bend},{a} {bend},{b} {x - 2 if backwards else x + 2},{b}" '
                       f'fill="none" stroke="{colour}" stroke-width="1.4" stroke-dasharray="5 3" '
                       f'marker-end="url(#arrow)"/>')
            # the name sits just above where the arc leaves: no other arc passes there
            tx = x - 6 if backwards else x + 6
            out.append(f'<text x="{tx:.0f}" y="{a - 6:.0f}" fill="{colour}" font-size="12" '
                       f'text-anchor="{"end" if backwards else "start"}" class="edge" '
                       f'data-event="{e.event.value}">{text}</text>')
    for s in order:
        y = _y(s)
        fill = "#e6f4ea" if s is State.CLOSED else "#fff"
        out.append(f'<g class="state" data-state="{s.value}"><rect x="{left}" y="{y}" width="{BOX_W}" height="{BOX_H}" '
                   f'rx="10" fill="{fill}" stroke="#b3261e" stroke-width="1.5"/>'
                   f'<text x="{CX}" y="{y + 20}" text-anchor="middle" font-size="15" font-weight="bold">'
                   f'{escape(state_label(s) if state_label else s.label)}</text>'
                   f'<text x="{CX}" y="{y + 37}" text-anchor="middle" font-size="11" fill="#5f6670">{s.value}</text>'
                   '</g>')
    out.append("</svg>")
    return "\n".join(out)
