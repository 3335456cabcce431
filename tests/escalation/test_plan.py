from datetime import timedelta

from escalation.plan import (
    PolicySnapshot,
    Step,
    first_step,
    level_delay,
    next_step,
    policy_snapshot,
)
from tests.factories import PolicyFactory, UserFactory, add_level


def snapshot(levels: int, repeat: int) -> PolicySnapshot:
    return {
        "policy_id": 1,
        "name": "p",
        "repeat": repeat,
        "levels": [
            {"position": n + 1, "delay_seconds": 60.0 * (n + 1), "user_ids": [n]}
            for n in range(levels)
        ],
    }


def walk(plan: PolicySnapshot) -> list[tuple[int, int]]:
    steps, step = [], first_step(plan)
    while step is not None:
        steps.append((step.level_index, step.loop))
        step = next_step(plan, step)
    return steps


def test_walk_visits_every_level_once_without_repeat() -> None:
    assert walk(snapshot(3, repeat=0)) == [(0, 0), (1, 0), (2, 0)]


def test_repeat_runs_through_all_levels_again_then_stops() -> None:
    assert walk(snapshot(2, repeat=2)) == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]


def test_policy_without_levels_has_no_first_step() -> None:
    assert first_step(snapshot(0, repeat=3)) is None


def test_level_delay_comes_from_the_snapshot() -> None:
    assert level_delay(snapshot(2, 0), Step(level_index=1, loop=0)) == timedelta(minutes=2)


def test_snapshot_orders_levels_by_position_and_freezes_user_ids(db: None) -> None:
    policy = PolicyFactory(repeat=1)
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    add_level(policy, [bob], timedelta(minutes=10), position=20)
    add_level(policy, [alice, bob], timedelta(seconds=90), position=5)

    frozen = policy_snapshot(policy)
    policy.levels.get(position=5).users.clear()

    assert frozen["repeat"] == 1
    assert [level["position"] for level in frozen["levels"]] == [5, 20]
    assert frozen["levels"][0] == {
        "position": 5,
        "delay_seconds": 90.0,
        "user_ids": sorted([alice.pk, bob.pk]),
        "schedule_ids": [],
    }
