"""A new credential's id is a version 7 UUID (RFC 9562, section 5.7): the Unix time in
milliseconds first, so ids made later sort after earlier ones and a stored credential lands at
the end of the indexes keyed by its id or lineage (issue 20: with version 4 ids, each row of a
bulk chunk dirtied a page of its own in those indexes, and storing slowed as the table grew)."""

from __future__ import annotations

import itertools
import time
import uuid

from service.issuing.issuance import new_credential_id


def _ms() -> int:
    return time.time_ns() // 1_000_000


def test_a_new_id_is_a_version_7_uuid_of_the_millisecond_it_was_made() -> None:
    before = _ms()
    made = new_credential_id()
    after = _ms()
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after
    assert uuid.UUID(made.urn) == made  # it reads back from its urn:uuid: form


def test_ids_of_a_later_millisecond_sort_after_in_the_form_stored() -> None:
    groups: list[list[uuid.UUID]] = []
    for _ in range(5):
        start = _ms()
        while _ms() == start:  # a millisecond of its own for each group
            pass
        groups.append([new_credential_id() for _ in range(50)])
    for earlier, later in itertools.pairwise(groups):
        assert max(earlier) < min(later)
        # the credentials table's indexes hold the urn text
        assert max(u.urn for u in earlier) < min(u.urn for u in later)


def test_every_random_bit_varies_and_the_fixed_fields_do_not() -> None:
    ids = [new_credential_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    ones = 0
    zeros = 0
    for made in ids:
        ones |= made.int
        zeros |= ~made.int
    low80 = (1 << 80) - 1
    version_and_variant = 0xF << 76 | 0b11 << 62
    random_bits = low80 & ~version_and_variant
    assert ones & random_bits == random_bits  # each of the 74 random bits was 1 somewhere
    assert zeros & random_bits == random_bits  # and 0 somewhere
    assert {(u.int >> 76) & 0xF for u in ids} == {7}
    assert {(u.int >> 62) & 0b11 for u in ids} == {0b10}
