"""The scale benchmark's synthetic permits and segment clock (scripts/bench_scale.py)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_scale

from verifier.identifiers import parse_citizen_id


def test_synthetic_permits_have_valid_citizen_ids_that_never_repeat() -> None:
    rng = random.Random(3)
    # across the wrap of birthplace, birth date and sequence number (6 × 20,075 per sequence)
    indices = [*range(0, 3_000), *range(120_000, 124_000), *range(240_900, 241_000)]
    subjects = [bench_scale.permit_subject(i, rng) for i in indices]
    ids = [s["citizenId"] for s in subjects]
    assert len(set(ids)) == len(ids)
    for subject in subjects[::97]:
        parsed = parse_citizen_id(subject["citizenId"])  # raises on a bad check digit
        assert parsed.birth_date.isoformat() == subject["birthDate"]
        assert parsed.sex == subject["sex"]


def test_rows_are_numbered_as_a_csv_after_its_header_and_made_lazily() -> None:
    rows = bench_scale.rows(10**9, seed=1)  # a province's worth would not fit if made at once
    first, second = next(rows), next(rows)
    assert (first.line, second.line) == (2, 3)
    assert first.subject is not None and second.subject is not None
    assert first.subject["citizenId"] != second.subject["citizenId"]


def test_segment_rates_count_each_segment_from_its_own_start() -> None:
    clock = bench_scale.Clock(1_000, 4, bench_scale.ThreadCpu())
    assert clock.bounds == [250, 500, 750, 1_000]
    clock.start = 0.0
    clock.issued_at = [1.0, 1.5, 3.5]  # the last segment not reached yet
    assert clock.rates(clock.issued_at) == [250.0, 500.0, 125.0]


def test_segment_cpu_counts_each_segment_from_its_own_start() -> None:
    clock = bench_scale.Clock(1_000, 4, bench_scale.ThreadCpu())
    # CPU seconds spent by the time each boundary was crossed, by thread and signing
    clock.cpu_at = [{"MainThread": 1.0, "signing": 2.0}, {"MainThread": 1.5, "signing": 3.0}]
    assert clock.cpu_per_credential() == [
        {"MainThread": 4_000.0, "signing": 8_000.0},  # µs per credential of the first 250
        {"MainThread": 2_000.0, "signing": 4_000.0},
    ]


def test_crossing_a_boundary_reads_the_cpu_spent_so_far() -> None:
    clock = bench_scale.Clock(1_000, 4, bench_scale.ThreadCpu())
    clock.see(clock.issued_at, 600)  # two boundaries at once
    clock.see(clock.anchored_at, 600)  # anchoring reads none
    assert len(clock.issued_at) == len(clock.cpu_at) == 2
    assert {"MainThread", "signing"} <= set(clock.cpu_at[0])
    assert all(seconds >= 0 for seconds in clock.cpu_at[1].values())
