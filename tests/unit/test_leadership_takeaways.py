"""The leadership report's three takeaways (dora.reads.leadership), one test per branch, without a
database: every expected sentence is worked out by hand from the small inputs beside it."""

from __future__ import annotations

from dora.reads import leadership as lead
from dora.reads.figures import Figure
from dora.reads.leadership_takeaways import (
    FigureRow,
    change_takeaway,
    estate_risk_takeaway,
    gate_takeaway,
)
from dora.reads.leadership_words import change_sentence, values_words
from dora.reads.weeks import compare

DAY = 86400.0
FEB, JAN = "February 2026", "January 2026"


def _figure(key: str, value: float | None, ci: tuple[float, float] | None, n: int) -> Figure:
    label = {"lead_time": "changes", "recovery_time": "incidents"}.get(key, "rollouts")
    return Figure(
        key=key,
        value=value,
        text="",
        n=n,
        n_label=label,
        ci=ci,
        ci_text="",
        level=None,
        badge="",
        badge_text="",
    )


def _row(
    key: str,
    now: tuple[float, tuple[float, float] | None, int],
    before: tuple[float, tuple[float, float] | None, int],
) -> FigureRow:
    current, previous = _figure(key, *now), _figure(key, *before)
    return FigureRow(
        key=key,
        current=current,
        previous=previous,
        comparison=compare(key, current, previous),
        sentence="",
    )


# -- (a) the change that matters most ----------------------------------------------------------


def test_change_takeaway_names_the_worst_significant_change_by_relative_size() -> None:
    rows = [
        # The organisation's lead time: 2.0 d -> 2.2 d, intervals overlap: not significant.
        (
            None,
            _row(
                "lead_time",
                (2.2 * DAY, (1.9 * DAY, 2.6 * DAY), 80),
                (2.0 * DAY, (1.7 * DAY, 2.3 * DAY), 75),
            ),
        ),
        # billing: deployment frequency 2 -> 4 a week, [3.1, 5.0] vs [1.3, 2.9]: significant,
        # better (+100%), so it ranks after any significant worsening.
        ("billing", _row("deployment_frequency", (4.0, (3.1, 5.0), 16), (2.0, (1.3, 2.9), 8))),
        # billing: lead time 1 d -> 1.5 d, [1.3, 1.8] d vs [0.8, 1.2] d: significant, worse,
        # relative +50%.
        (
            "billing",
            _row(
                "lead_time",
                (1.5 * DAY, (1.3 * DAY, 1.8 * DAY), 40),
                (1.0 * DAY, (0.8 * DAY, 1.2 * DAY), 40),
            ),
        ),
        # payments: change failure rate 5% -> 20%, [14%, 27%] vs [2%, 11%]: significant, worse,
        # relative (0.20 - 0.05) / 0.05 = +300%: the largest worsening, so the takeaway.
        (
            "payments",
            _row("change_failure_rate", (0.20, (0.14, 0.27), 100), (0.05, (0.02, 0.11), 100)),
        ),
    ]

    sentence = change_takeaway(rows, period_label=FEB, previous_label=JAN, period_weeks=4)

    assert sentence == (
        "For team payments, change failure rate rose from 5.0% to 20.0% (+15.0 points) in "
        "February 2026 against January 2026: a significant worsening (the two 95% intervals do "
        "not overlap)."
    )


def test_change_takeaway_without_a_significant_change_says_what_would_show_one() -> None:
    rows = [
        # Deployment frequency 2.5 -> 3.0, [2.0, 4.2] vs [1.6, 3.6]: gap (3.0 - 2.0) + (3.6 - 2.5)
        # = 2.1 over a difference of 0.5: (2.1 / 0.5)^2 = 17.64 times the data.
        (None, _row("deployment_frequency", (3.0, (2.0, 4.2), 12), (2.5, (1.6, 3.6), 10))),
        # Lead time 2.1 d -> 1.4 d, [1.0, 2.0] d vs [1.8, 2.6] d: facing halves (2.0 - 1.4) +
        # (2.1 - 1.8) = 0.9 d over 0.7 d: (0.9 / 0.7)^2 = 1.653 times, the nearest; 1.653 x 40
        # changes = 66.1 -> about 67.
        (
            None,
            _row(
                "lead_time",
                (1.4 * DAY, (1.0 * DAY, 2.0 * DAY), 40),
                (2.1 * DAY, (1.8 * DAY, 2.6 * DAY), 38),
            ),
        ),
        # Change failure rate unchanged: no difference to tell apart.
        (None, _row("change_failure_rate", (0.10, (0.05, 0.18), 30), (0.10, (0.05, 0.18), 30))),
        # A team's change is left out of "the nearest" (the organisation's figures only).
        (
            "payments",
            _row(
                "lead_time",
                (1.0 * DAY, (0.5 * DAY, 1.6 * DAY), 9),
                (1.1 * DAY, (0.6 * DAY, 1.7 * DAY), 9),
            ),
        ),
    ]

    sentence = change_takeaway(rows, period_label=FEB, previous_label=JAN, period_weeks=4)

    assert sentence == (
        "No significant change in February 2026 against January 2026. The nearest is lead time, "
        "which fell from 2.1 days to 34 hours (−33%); telling it apart would take about 67 "
        "changes in each period instead of 40, if the difference held."
    )


def test_change_takeaway_for_frequency_asks_for_weeks_of_rollouts() -> None:
    # 2.0 -> 3.0 a week, [2.2, 3.9] vs [1.4, 2.8]: (0.8 + 0.8)^2 / 1.0^2 = 2.56 times 4 weeks
    # = 10.24 -> "about 10 weeks".
    rows = [(None, _row("deployment_frequency", (3.0, (2.2, 3.9), 12), (2.0, (1.4, 2.8), 8)))]

    sentence = change_takeaway(rows, period_label=FEB, previous_label=JAN, period_weeks=4)

    assert sentence == (
        "No significant change in February 2026 against January 2026. The nearest is deployment "
        "frequency, which rose from 2 to 3 rollouts a week (+50%); telling it apart would take "
        "about 10 weeks of rollouts at these rates in each period instead of 4, if the "
        "difference held."
    )


def test_change_takeaway_without_intervals_says_there_were_too_few_items() -> None:
    rows = [(None, _row("lead_time", (1.0 * DAY, None, 3), (2.0 * DAY, None, 2)))]

    sentence = change_takeaway(rows, period_label=FEB, previous_label=JAN, period_weeks=4)

    assert sentence.startswith("No significant change in February 2026 against January 2026: ")
    assert "a median needs 6 items" in sentence


# -- (b) the biggest estate risk ---------------------------------------------------------------


def test_estate_risk_takeaway_names_the_instance_most_times_over_its_stale_after() -> None:
    stale = [
        # 37 d against 7 d: 5.3 times.
        {"service": "network-stack", "environment": "staging", "target": "eu-1",
         "lag_seconds": 37 * DAY, "stale_after_seconds": 7 * DAY},
        # 20 d against 3 d: 6.67 -> "6.7" times, the worst.
        {"service": "billing-db", "environment": "production", "target": "",
         "lag_seconds": 20 * DAY, "stale_after_seconds": 3 * DAY},
    ]  # fmt: skip

    sentence = estate_risk_takeaway(stale, [], 10, at="the end of 28 Feb 2026")

    assert sentence == (
        "The automation of billing-db in production last succeeded 20 days before the end of "
        "28 Feb 2026, 6.7 times its stale_after of 3d; 2 of 10 automation instances were "
        "stale."
    )


def test_estate_risk_takeaway_puts_a_never_succeeded_instance_first() -> None:
    stale = [
        {"service": "billing-db", "environment": "production", "target": "",
         "lag_seconds": 20 * DAY, "stale_after_seconds": 3 * DAY},
        {"service": "dns", "environment": "staging", "target": "eu-1",
         "lag_seconds": None, "stale_after_seconds": 7 * DAY},
    ]  # fmt: skip

    sentence = estate_risk_takeaway(stale, [], 4, at="the end of 28 Feb 2026")

    assert sentence == (
        "The automation of dns in staging, target eu-1 has never succeeded; 2 of 4 automation "
        "instances were stale."
    )


def test_estate_risk_takeaway_without_stale_automation_names_the_widest_spread() -> None:
    spreads = [
        {"service": "checkout", "environment": "production", "versions": 3, "targets": 4,
         "versions_behind": 2},
        {"service": "search", "environment": "staging", "versions": 2, "targets": 2,
         "versions_behind": 1},
        {"service": "auth", "environment": "production", "versions": 1, "targets": 3,
         "versions_behind": 0},
    ]  # fmt: skip

    sentence = estate_risk_takeaway([], spreads, 6, at="the end of 28 Feb 2026")

    assert sentence == (
        "checkout ran 3 versions across 4 production targets at the end of 28 Feb 2026, the "
        "oldest 2 releases behind; 1 more service-environment ran more than one version."
    )


def test_estate_risk_takeaway_without_a_risk_says_so() -> None:
    single = [{"service": "checkout", "environment": "production", "versions": 1, "targets": 4,
               "versions_behind": 0}]  # fmt: skip

    assert estate_risk_takeaway([], single, 10, at="the end of 28 Feb 2026") == (
        "No estate risk at the end of 28 Feb 2026: all 10 automation instances ran within their "
        "stale_after and every service ran one version per environment."
    )
    assert estate_risk_takeaway([], [], 0, at="3 Mar 2026 10:00 UTC") == (
        "No estate risk at 3 Mar 2026 10:00 UTC: no automation instance reports runs and every "
        "service ran one version per environment."
    )


# -- (c) the promotion gate --------------------------------------------------------------------


def test_gate_takeaway_without_decisions() -> None:
    assert gate_takeaway(0, 0, [], None, period_label=FEB) == (
        "Nobody asked the promotion gate in February 2026: no decisions to report."
    )


def test_gate_takeaway_block_rate_with_its_main_reason_and_route() -> None:
    # 12 of 30 = 40%; soak_time failed in 8 of the 12 blocked decisions.
    sentence = gate_takeaway(
        12, 30, [("soak_time", 8), ("source_fresh", 5)], ("checkout", "production", 5),
        period_label=FEB,
    )  # fmt: skip

    assert sentence == (
        "The promotion gate blocked 12 of 30 promotions in February 2026 (40%); the main "
        "reason was soak_time, failing in 8 of the 12 blocked, most often for checkout into "
        "production (5 blocked)."
    )


def test_gate_takeaway_when_nothing_was_blocked() -> None:
    assert gate_takeaway(0, 7, [], None, period_label=FEB) == (
        "The promotion gate allowed all 7 promotions in February 2026 (0% blocked)."
    )
    assert gate_takeaway(0, 1, [], None, period_label=FEB) == (
        "The promotion gate allowed the only promotion in February 2026 (0% blocked)."
    )


def test_gate_block_reasons_count_decisions_per_blocking_check_and_route() -> None:
    block, warn = "block", "warn"
    blocked = [
        # soak_time and source_fresh block; a failed warn-only check is no reason.
        ("checkout", "production", [
            {"name": "soak_time", "passed": False, "severity": block},
            {"name": "source_fresh", "passed": False, "severity": block},
            {"name": "no_open_incidents", "passed": False, "severity": warn},
        ]),
        ("checkout", "production", [{"name": "soak_time", "passed": False, "severity": block}]),
        ("search", "staging", [
            {"name": "source_fresh", "passed": False, "severity": block},
            {"name": "soak_time", "passed": True, "severity": block},
        ]),
        ("search", "production", [{"name": "infra_parity", "passed": False, "severity": block}]),
    ]  # fmt: skip

    reasons, route = lead.gate_block_reasons(blocked)

    # soak_time: decisions 1 and 2; source_fresh: 1 and 3 (tie, by name); infra_parity: 4.
    assert reasons == [("soak_time", 2), ("source_fresh", 2), ("infra_parity", 1)]
    assert route == ("checkout", "production", 2)
    assert lead.gate_block_reasons([]) == ([], None)


def test_estate_risk_takeaway_ranks_the_higher_tier_first() -> None:
    # A development stack 6.5 times over its stale_after against a production spread: the
    # production spread is the bigger risk (tier first); a staging stale stack ranks between.
    stale = [
        {"service": "k8s-platform", "environment": "development", "target": "",
         "tier": "development",
         "lag_seconds": 45.5 * DAY, "stale_after_seconds": 7 * DAY},
        {"service": "network-stack", "environment": "staging", "target": "", "tier": "staging",
         "lag_seconds": 8 * DAY, "stale_after_seconds": 7 * DAY},
    ]  # fmt: skip
    spreads = [
        {"service": "checkout", "environment": "production", "tier": "production", "versions": 2,
         "targets": 3, "versions_behind": 1},
    ]  # fmt: skip

    assert estate_risk_takeaway(stale, spreads, 40, at="the end of 30 Nov 2026") == (
        "checkout ran 2 versions across 3 production targets at the end of 30 Nov 2026, the "
        "oldest 1 release behind."
    )
    # Without the spread: staging before development; 8 / 7 = 1.14 -> "1.1 times".
    assert estate_risk_takeaway(stale, [], 40, at="the end of 30 Nov 2026") == (
        "The automation of network-stack in staging last succeeded 8.0 days before the end of "
        "30 Nov 2026, 1.1 times its stale_after of 7d; 2 of 40 automation instances were "
        "stale."
    )


def test_gate_takeaway_when_one_check_blocked_every_decision_and_no_route_stands_out() -> None:
    assert gate_takeaway(3, 10, [("source_fresh", 3)], None, period_label=FEB) == (
        "The promotion gate blocked 3 of 10 promotions in February 2026 (30%); the main "
        "reason was source_fresh, failing in all 3 blocked."
    )


def test_gate_block_reasons_names_no_route_when_two_tie_or_each_was_blocked_once() -> None:
    fresh = [{"name": "source_fresh", "passed": False, "severity": "block"}]
    once = [("billing", "production", fresh), ("search", "production", fresh)]
    tie = once + once

    assert lead.gate_block_reasons(once) == ([("source_fresh", 2)], None)
    assert lead.gate_block_reasons(tie) == ([("source_fresh", 4)], None)


def test_values_that_round_alike_read_unchanged() -> None:
    # 22.4 h and 21.9 h both read "22 hours" (whole numbers from 10 up): never "fell from 22
    # hours to 22 hours" (issue 15, point 6).
    assert change_sentence("lead_time", 21.9 * 3600, 22.4 * 3600) == (
        "Lead time was unchanged at 22 hours (too few to tell)."
    )
    # A takeaway's clause (a significant change) names both with one more decimal instead.
    assert values_words("lead_time", 22.4 * 3600, 21.9 * 3600) == ("22.4 hours", "21.9 hours")
    # 53.4 and 49.9 a week round apart ("53" and "50"): no extra decimal.
    assert change_sentence("deployment_frequency", 53.4, 49.9) == (
        "Deployment frequency rose from 50 to 53 rollouts a week (+7%, too few to tell)."
    )


def test_the_report_window_names_the_last_day_not_the_exclusive_end() -> None:
    from datetime import UTC, date, datetime

    november = lead.period_of("month", date(2026, 11, 15))
    quarter = lead.period_of("quarter", date(2026, 11, 15))

    assert lead.period_end_text(november, november.end) == "the end of 30 Nov 2026"
    assert lead.period_end_text(november, datetime(2026, 11, 7, 6, tzinfo=UTC)) == (
        "7 Nov 2026 06:00 UTC"
    )
    # LeadershipReport.window_text without building a report: the same fields it reads.
    fields = {"period": november, "until": november.end}
    assert lead.LeadershipReport.window_text.fget(
        type("R", (), {**fields, "in_progress": False})
    ) == (  # type: ignore[attr-defined]
        "1–30 Nov 2026 (UTC)"
    )
    fields = {"period": quarter, "until": quarter.end, "in_progress": False}
    assert lead.LeadershipReport.window_text.fget(type("R", (), fields)) == (  # type: ignore[attr-defined]
        "1 Oct – 31 Dec 2026 (UTC)"
    )
