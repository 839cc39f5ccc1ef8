"""Case references: reserved blocks, and what next_reference takes from them."""
import pytest

from models.reference import ReferenceBlock, current_value, next_reference, reserve_references, use_block


def test_a_reserved_block_moves_the_counter_past_it(db_session):
    start = current_value(db_session, 2033)
    block = reserve_references(db_session, 2033, 5)
    assert (block.next, block.last) == (start + 1, start + 5)
    assert current_value(db_session, 2033) == start + 5
    later = reserve_references(db_session, 2033, 2)
    assert later.next == start + 6                         # blocks never overlap


def test_the_first_block_of_a_year_creates_its_counter(db_session):
    year = 2099                                            # a year no other test numbers
    assert current_value(db_session, year) == 0
    block = reserve_references(db_session, year, 3)
    assert (block.next, block.last) == (1, 3) and current_value(db_session, year) == 3


def test_next_reference_takes_from_the_block_then_from_the_counter(db_session):
    block = reserve_references(db_session, 2034, 2)
    with use_block(db_session, block):
        taken = [next_reference(db_session, 2034) for _ in range(3)]
        other_year = next_reference(db_session, 2035)
    assert taken[:2] == [f"C-2034-{block.last - 1:06d}", f"C-2034-{block.last:06d}"]
    assert taken[2] == f"C-2034-{block.last + 1:06d}"     # used up: the counter goes on after the block
    assert other_year.startswith("C-2035-")
    assert next_reference(db_session, 2034) == f"C-2034-{block.last + 2:06d}"   # outside: the counter


def test_numbers_are_unique_whichever_way_they_are_taken(db_session):
    with use_block(db_session, reserve_references(db_session, 2036, 3)):
        first = [next_reference(db_session, 2036) for _ in range(2)]
    second = [next_reference(db_session, 2036) for _ in range(2)]
    with use_block(db_session, reserve_references(db_session, 2036, 4)):
        third = [next_reference(db_session, 2036) for _ in range(4)]
    numbers = [int(ref.rsplit("-", 1)[1]) for ref in first + second + third]
    assert numbers == sorted(set(numbers))                 # increasing, no repeats; the unused one is a gap


def test_a_block_of_no_numbers_is_refused(db_session):
    with pytest.raises(ValueError):
        reserve_references(db_session, 2037, 0)


def test_a_block_gives_nothing_for_another_year():
    block = ReferenceBlock(2038, 1, 1)
    assert block.take(2039) is None
    assert block.take(2038) == 1 and block.take(2038) is None
