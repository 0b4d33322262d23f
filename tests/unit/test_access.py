"""dora.web.access: who sees which teams and services (the pure rule, no database)."""

from __future__ import annotations

from dora.reads.scope import Scope
from dora.web.access import Access, access_rule

TEAMS = [("payments", ["alice", "bob"]), ("discovery", ["erin"]), ("empty", [])]
SERVICES = [
    ("checkout", "payments"),
    ("ledger", "payments"),
    ("search", "discovery"),
    ("orphan", None),
]


def rule(username: str | None, *, everything: bool = False) -> Access:
    return access_rule(
        username=username, sees_everything=everything, teams=TEAMS, services=SERVICES
    )


def test_access_member_sees_their_teams_and_services_only() -> None:
    access = rule("alice")

    assert access.teams == {"payments"}
    assert access.services == {"checkout", "ledger"}
    assert access.team_allowed("payments")
    assert not access.team_allowed("discovery")
    assert not access.service_allowed("search")
    assert not access.service_allowed("orphan")


def test_access_leadership_sees_everything_including_unowned_services() -> None:
    access = rule("lena", everything=True)

    assert access.team_allowed("discovery") and access.team_allowed("anything")
    assert access.service_allowed("orphan")
    assert access.visible_scope() == Scope()


def test_access_non_member_and_anonymous_see_nothing() -> None:
    for access in (rule("mallory"), rule(None), rule("")):
        assert not access.teams and not access.services
        assert access.visible_scope() is None
        assert not access.scope_allowed(Scope(team="payments"))


def test_access_member_in_several_teams_sees_each() -> None:
    teams = [("payments", ["alice"]), ("discovery", ["alice", "erin"])]
    access = access_rule(username="alice", sees_everything=False, teams=teams, services=SERVICES)

    assert access.teams == {"payments", "discovery"}
    assert access.services == {"checkout", "ledger", "search"}


def test_access_scope_allowed_for_own_team_and_services_only() -> None:
    access = rule("alice")

    assert access.scope_allowed(Scope(team="payments"))
    assert access.scope_allowed(Scope(services=("checkout",)))
    assert access.scope_allowed(Scope(team="payments", services=("checkout", "ledger")))
    assert not access.scope_allowed(Scope(team="discovery"))
    assert not access.scope_allowed(Scope(services=("checkout", "search")))
    assert not access.scope_allowed(Scope(team="payments", services=("search",)))
    # The whole organisation is only for those who see everything.
    assert not access.scope_allowed(Scope())
    assert rule("x", everything=True).scope_allowed(Scope())


def test_access_visible_scope_of_a_member_names_their_services() -> None:
    assert rule("alice").visible_scope() == Scope(services=("checkout", "ledger"))


def test_access_usernames_match_exactly() -> None:
    assert rule("Alice").teams == frozenset()
    assert rule("ali").teams == frozenset()


def test_access_only_team_is_the_one_team_of_a_member_of_exactly_one() -> None:
    assert rule("alice").only_team == "payments"  # where she lands after logging in
    two = access_rule(
        username="erin",
        sees_everything=False,
        teams=[*TEAMS, ("platform", ["erin"])],
        services=SERVICES,
    )
    assert two.only_team is None  # two teams: the overview
    assert rule("nobody").only_team is None  # no team: the overview
    assert rule("alice", everything=True).only_team is None  # leadership and staff
