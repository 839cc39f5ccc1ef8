"""Properties of the pure routing rules (hypothesis): eligibility, strategies and waiting order."""
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from routing import rules

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
SKILLS = (rules.SkillNeed(1, "benefits", 2, True), rules.SkillNeed(2, "housing", 1, False))

candidates = st.lists(st.builds(
    rules.Candidate,
    user_id=st.integers(1, 10_000),
    presence=st.sampled_from(["available", "away", "offline"]),
    languages=st.lists(st.sampled_from(["en", "es", "it"]), unique=True).map(tuple),
    skills=st.dictionaries(st.sampled_from([1, 2]), st.integers(0, 3)),
    slots=st.integers(0, 8), used=st.integers(0, 8),
    last_assigned_at=st.none() | st.integers(0, 10_000).map(lambda s: EPOCH + timedelta(seconds=s)),
), unique_by=lambda c: c.user_id, max_size=30)
needs = st.builds(rules.Need, channel=st.just("email"), language=st.none() | st.sampled_from(["en", "es"]),
                  skills=st.just(SKILLS), is_relaxed=st.booleans())
strategy_names = st.sampled_from([rules.LEAST_LOADED, rules.ROUND_ROBIN, rules.BEST_MATCH])
declined_sets = st.frozensets(st.integers(1, 10_000), max_size=5)


@given(strategy_names, needs, candidates, declined_sets)
def test_every_candidate_is_either_eligible_or_filtered_for_one_reason(strategy, need, pool, declined):
    result = rules.evaluate(strategy, need, pool, declined)
    ranked = [r.candidate.user_id for r in result.ranked]
    filtered = [c.user_id for group in result.filtered.values() for c in group]
    assert sorted(ranked + filtered) == sorted(c.user_id for c in pool)
    assert result.considered == len(pool)


@given(strategy_names, needs, candidates, declined_sets)
def test_an_eligible_agent_is_available_speaks_the_language_has_the_skills_a_free_slot_and_did_not_decline(
        strategy, need, pool, declined):
    for ranked in rules.evaluate(strategy, need, pool, declined).ranked:
        agent = ranked.candidate
        assert agent.presence == "available" and agent.spare > 0 and agent.user_id not in declined
        assert need.language is None or need.language in agent.languages
        assert all(agent.skills.get(s.skill_id, 0) >= s.min_level for s in SKILLS if s.is_essential)
        if not need.is_relaxed:
            assert all(agent.skills.get(s.skill_id, 0) >= s.min_level for s in SKILLS)


def _as_written(strategy, need, pool, declined) -> tuple[list[int], dict[str, list[int]]]:
    """The rules as the module states them, written plainly: each candidate's first reason in REASONS' order;
    the eligible by score, then the longest idle, then the lowest id. An oracle for the tuned `evaluate`."""
    def reason(c):
        checks = {rules.PRESENCE: c.presence != "available",
                  rules.LANGUAGE: bool(need.language) and need.language not in c.languages,
                  rules.SKILL: any(c.skills.get(s.skill_id, 0) < s.min_level for s in need.required_skills),
                  rules.CAPACITY: c.spare <= 0, rules.DECLINED: c.user_id in declined}
        return next((r for r in rules.REASONS if checks[r]), None)
    never = datetime.min.replace(tzinfo=timezone.utc)
    ranked = sorted((c for c in pool if reason(c) is None),
                    key=lambda c: (-rules.score(strategy, need, c), c.last_assigned_at or never, c.user_id))
    return [c.user_id for c in ranked], {r: [c.user_id for c in pool if reason(c) == r] for r in rules.REASONS}


@given(strategy_names, needs, candidates, declined_sets)
def test_evaluate_ranks_and_filters_as_the_rules_are_written(strategy, need, pool, declined):
    result = rules.evaluate(strategy, need, pool, declined)
    filtered = {reason: [c.user_id for c in group] for reason, group in result.filtered.items()}
    assert ([r.candidate.user_id for r in result.ranked], filtered) == _as_written(strategy, need, pool, declined)


@given(strategy_names, needs, candidates, declined_sets, st.integers(1, 6))
def test_ranking_only_the_best_few_gives_the_head_of_the_full_ranking_and_counts_every_candidate(
        strategy, need, pool, declined, best):
    full = rules.evaluate(strategy, need, pool, declined)
    head = rules.evaluate(strategy, need, pool, declined, best=best)
    assert head.ranked == full.ranked[:best]
    assert (head.filtered, head.eligible, head.considered) == (full.filtered, len(full.ranked), len(pool))


@given(strategy_names, needs, candidates, st.randoms())
def test_the_outcome_does_not_depend_on_the_order_of_candidates(strategy, need, pool, rnd):
    shuffled = list(pool)
    rnd.shuffle(shuffled)
    ids = lambda result: [r.candidate.user_id for r in result.ranked]
    assert ids(rules.evaluate(strategy, need, pool)) == ids(rules.evaluate(strategy, need, shuffled))


@given(needs, candidates)
def test_least_loaded_picks_the_most_spare_and_round_robin_the_longest_idle(need, pool):
    least = rules.evaluate(rules.LEAST_LOADED, need, pool).ranked
    if least:
        assert least[0].candidate.spare == max(r.candidate.spare for r in least)
    robin = rules.evaluate(rules.ROUND_ROBIN, need, pool).ranked
    if robin:
        idle = lambda c: c.last_assigned_at or datetime.min.replace(tzinfo=timezone.utc)
        assert idle(robin[0].candidate) == min(idle(r.candidate) for r in robin)


@given(needs, candidates)
def test_best_match_prefers_higher_skill_levels(need, pool):
    ranked = rules.evaluate(rules.BEST_MATCH, need, pool).ranked
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True)


@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 10_000), st.integers(0, 3)), min_size=2))
def test_waiting_order_serves_priority_first_then_the_longest_wait(cases):
    keyed = sorted(cases, key=lambda c: rules.waiting_order(c[0], EPOCH + timedelta(seconds=c[1]), c[2]))
    for before, after in zip(keyed, keyed[1:]):
        assert before[0] >= after[0]
        if before[0] == after[0] and before[2] == after[2]:
            assert before[1] <= after[1]
