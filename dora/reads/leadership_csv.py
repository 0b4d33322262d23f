"""The leadership report as CSV: one row per figure of each team and the organisation."""

from __future__ import annotations

import csv
import io

from dora.metrics import DEFINITIONS_URL, DEFINITIONS_VERSION
from dora.reads.leadership import LeadershipReport
from dora.reads.leadership_words import significance_words

UNITS = {
    "deployment_frequency": "rollouts per week",
    "lead_time": "seconds",
    "change_failure_rate": "share (0-1)",
    "recovery_time": "seconds",
    "rework_rate": "share (0-1)",
}
ORGANISATION = "(organisation)"


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------

CSV_HEADER = (
    "team",
    "figure",
    "unit",
    "period_start",
    "period_end",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "level",
    "previous_start",
    "previous_end",
    "previous_value",
    "previous_n",
    "previous_ci_low",
    "previous_ci_high",
    "previous_level",
    "change",
    "significant",
    "definitions_version",  # the definitions the figures follow (docs/DEFINITIONS.md)
    "definitions_url",
    # Added: the figure's 2025 placement (0..100; empty for a tier year or below its minimum).
    "percentile",
    "previous_percentile",
    # Added: the row's sentence; the first three rows are the takeaways (team "(takeaway)",
    # figure one of TAKEAWAY_FIGURES, unit "sentence", every number empty).
    "sentence",
)
TAKEAWAY_TEAM = "(takeaway)"
TAKEAWAY_FIGURES = ("significant_change", "estate_risk", "gate_block_rate")


def _csv_text(value: str) -> str:
    """A name as a spreadsheet shows it, never runs it: a leading =, +, -, @, tab or CR would
    start a formula (OWASP CSV injection), so such a name gets a leading apostrophe."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def report_csv(report: LeadershipReport, *, definitions_url: str = DEFINITIONS_URL) -> str:
    """The takeaways first (a row each, team TAKEAWAY_TEAM), then one row per team x figure (the
    organisation first), both periods, raw numbers: seconds for durations, 0..1 for rates,
    rollouts per week for frequency; each row names the definitions version and where it is
    explained (absolute when the caller knows the host)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    start, end = report.period.start.date().isoformat(), report.until.isoformat()
    for figure, sentence in zip(TAKEAWAY_FIGURES, report.takeaways, strict=False):
        line = dict.fromkeys(CSV_HEADER, "")
        line.update(
            team=TAKEAWAY_TEAM,
            figure=figure,
            unit="sentence",
            period_start=start,
            period_end=end.replace("+00:00", "Z"),
            previous_start=report.previous.start.date().isoformat(),
            previous_end=report.previous.end.date().isoformat(),
            definitions_version=str(DEFINITIONS_VERSION),
            definitions_url=definitions_url,
            sentence=_csv_text(sentence),
        )
        writer.writerow(line.values())
    teams = [(ORGANISATION, report.organisation), *((t.name, t.figures) for t in report.teams)]
    for team, rows in teams:
        for row in rows:
            cur, prev = row.current, row.previous
            writer.writerow(
                (
                    _csv_text(team),
                    row.key,
                    UNITS[row.key],
                    report.period.start.date().isoformat(),
                    report.until.isoformat().replace("+00:00", "Z"),
                    _csv_number(cur.value),
                    cur.n,
                    _csv_number(cur.ci[0] if cur.ci else None),
                    _csv_number(cur.ci[1] if cur.ci else None),
                    cur.level or "",
                    report.previous.start.date().isoformat(),
                    report.previous.end.date().isoformat(),
                    _csv_number(prev.value),
                    prev.n,
                    _csv_number(prev.ci[0] if prev.ci else None),
                    _csv_number(prev.ci[1] if prev.ci else None),
                    prev.level or "",
                    "" if row.comparison.direction == "none" else row.comparison.text,
                    significance_words(row.comparison.significant),
                    DEFINITIONS_VERSION,
                    definitions_url,
                    _csv_number(cur.percentile),
                    _csv_number(prev.percentile),
                    _csv_text(row.sentence),
                )
            )
    return out.getvalue()
