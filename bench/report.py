#!/usr/bin/env python
"""Write docs/benchmarks.md from the result files the benchmark scripts left (`--json PATH`).

    .venv/bin/python bench/report.py bench/results docs/benchmarks.md

Every `*.json` in the folder in the format of bench/common.py becomes a section: what ran, when and
how long, its targets (MET / MISSED), its table, its notes. The machine and versions come first,
from the results themselves; a bench expected but missing is listed as not run.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common

# the order of the sections; any other result file follows, by name
EXPECTED = ("transition_rate", "overdue", "history_lookup", "import_ledger", "drain", "ledger_http")
VERDICT = {True: "**MET**", False: "**MISSED**", None: "not measured"}


def cell(v: Any) -> str:
    return common.fmt(v).replace("|", "\\|")


def markdown_table(columns: list[list[str]], rows: list[dict[str, Any]]) -> list[str]:
    """A Markdown table: numbers right-aligned, thousands separated."""
    numeric = [any(isinstance(r.get(k), int | float) and not isinstance(r.get(k), bool) for r in rows)
               for k, _ in columns]
    head = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    return [head, rule] + ["| " + " | ".join(cell(r.get(k)) for k, _ in columns) + " |" for r in rows]


def machine_section(results: list[dict[str, Any]]) -> list[str]:
    """The machine and versions; one block per distinct machine (normally one)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in results:
        m = {k: v for k, v in r["machine"].items() if k not in ("load_average", "postgres")}  # vary per script
        key = json.dumps(m, sort_keys=True)
        block = seen.setdefault(key, dict(m, postgres=None))
        block["postgres"] = block["postgres"] or r["machine"].get("postgres")
    out = ["## Machine and versions", ""]
    if len(seen) > 1:
        out += ["*The results come from more than one machine or setup; each block is one.*", ""]
    for m in seen.values():
        pg = m.get("postgres") or {}
        out += [f"- CPU: {m['cpu']} ({m['arch']}), {m['nproc']} cores, {m['memory_gib']} GiB; {m['os']}",
                f"- {m['python']}; SQLite {m['sqlite']}",
                (f"- PostgreSQL {pg['server_version']} on localhost: synchronous_commit={pg['synchronous_commit']}, "
                 f"fsync={pg['fsync']}, shared_buffers={pg['shared_buffers']}" if pg else "- PostgreSQL: not used"),
                "- " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v), ""]
    return out


def section(r: dict[str, Any]) -> list[str]:
    load = " / ".join(f"{x:g}" for x in r["machine"].get("load_average", []))
    out = [f"## {r['title']}", "",
           f"`{r['command']}` — started {r['started']}, took {r['seconds']:.0f} s; "
           f"load average at the start {load} (1 / 5 / 15 min).", ""]
    if r.get("targets"):
        out += [f"- {t['target']}: {VERDICT[t['met']]}" + (f" ({t['detail']})" if t.get("detail") else "")
                for t in r["targets"]] + [""]
    out += markdown_table(r["columns"], r["rows"]) + [""]
    out += [f"{n}" for n in r.get("notes", [])]
    return out + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="the folder of result files (bench/results)")
    ap.add_argument("out", type=Path, help="the Markdown file to write (docs/benchmarks.md)")
    ap.add_argument("--banner", help="a warning to put at the top (e.g. for figures from a trial run)")
    args = ap.parse_args()
    found = {}
    for f in sorted(args.results.glob("*.json")):
        doc = json.loads(f.read_text(encoding="utf-8"))
        if doc.get("format") != common.FORMAT:
            raise SystemExit(f"{f}: result format {doc.get('format')!r}, this report reads {common.FORMAT}")
        found[doc["bench"]] = doc
    if not found:
        raise SystemExit(f"no result files in {args.results}")
    order = [b for b in EXPECTED if b in found] + sorted(b for b in found if b not in EXPECTED)
    results = [found[b] for b in order]
    missing = [b for b in EXPECTED if b not in found]

    lines = ["# Benchmarks", "",
             f"Written by `bench/report.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from the result files in "
             f"`{args.results}`; `make bench` runs every script and writes this page. What each benchmark "
             "measures, and how to run one alone, is in [bench/README.md](../bench/README.md).", "",
             "Figures depend on the machine's disk (fsync) and on what else runs on it: read them with the "
             "load average given for each.", ""]
    if args.banner:
        lines[1:1] = ["", f"> **{args.banner}**"]
    targets = [(r["title"], t) for r in results for t in r.get("targets", [])]
    if targets:
        lines += ["## Targets", "", "| benchmark | target | result |", "|---|---|---|"]
        lines += [f"| {title} | {t['target']} | {VERDICT[t['met']]}" + (f" ({t['detail']})" if t.get("detail") else "")
                  + " |" for title, t in targets]
        lines.append("")
    if missing:
        lines += ["Not in this run (no result file): " + ", ".join(f"`bench/{b}.py`" for b in missing) + ".", ""]
    lines += machine_section(results)
    for r in results:
        lines += section(r)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    print(f"wrote {args.out} from {len(results)} result file(s)"
          + (f"; missing: {', '.join(missing)}" if missing else ""))


if __name__ == "__main__":
    main()
