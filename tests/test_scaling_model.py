"""The scaling study's model (benchmarks/scaling_model.py): pure functions, no MPI."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import scaling_model as model  # noqa: E402

LINK = model.Link("test", bandwidth=1e9, latency=1e-5)
# c(b) = 1 ms + 10 us per row: a fixed per-step cost (the update) and a per-row cost
AFFINE = model.ComputeProfile([1, 2, 4, 1024], [1e-3 + 1e-5 * b for b in (1, 2, 4, 1024)])


def test_parameters_and_bytes_of_784_256_10():
    assert model.n_params([784, 256, 10]) == 784 * 256 + 256 + 256 * 10 + 10 == 203_530
    assert model.gradient_bytes([784, 256, 10]) == 4 * (203_530 + 2)


def test_ring_allreduce_against_hand_computed_values():
    # N = 4, S = 1 MB, 1 GB/s, 10 us: 2 * 3/4 * 1 ms + 2 * 3 * 10 us = 1.5 ms + 60 us
    assert model.ring_allreduce_time(1e6, 4, 1e9, 1e-5) == pytest.approx(1.56e-3)
    # N = 2: S / beta + 2 alpha
    assert model.ring_allreduce_time(8e6, 2, 1e9, 1e-5) == pytest.approx(8e-3 + 2e-5)
    assert model.ring_allreduce_time(1e6, 1, 1e9, 1e-5) == 0.0
    with pytest.raises(ValueError):
        model.ring_allreduce_time(1e6, 0, 1e9, 1e-5)


def test_bandwidth_term_tends_to_twice_the_buffer():
    # each rank sends and receives 2 (N-1)/N of the buffer: at most twice, whatever N
    big = model.ring_allreduce_time(1e9, 1024, 1e9, 0.0)
    assert 1.99 < big < 2.0


def test_profile_interpolates_and_extrapolates_linearly():
    c = model.ComputeProfile([4, 1, 2], [3.0, 1.0, 2.0])  # given in any order
    assert c(1) == 1.0 and c(1.5) == pytest.approx(1.5) and c(3) == pytest.approx(2.5)
    assert c(8) == pytest.approx(5.0)  # the line through the last two points: 3 + 4 / 2
    assert c(0.5) == 1.0  # never below the smallest measured cost
    assert AFFINE(512) == pytest.approx(1e-3 + 512e-5)
    with pytest.raises(ValueError):
        model.ComputeProfile([1], [1.0])


def test_speedup_of_one_rank_is_one_and_step_time_adds_the_parts():
    assert model.speedup(AFFINE, 256, 1, 1e6, LINK) == 1.0
    expected = AFFINE(32) + model.ring_allreduce_time(1e6, 8, 1e9, 1e-5)
    assert model.step_time(AFFINE, 256, 8, 1e6, LINK) == pytest.approx(expected)


@pytest.mark.parametrize("ranks", [2, 8, 64])
def test_efficiency_grows_with_the_batch_and_stays_below_one(ranks):
    batches = model.powers_of_two(ranks, 2**16)
    e = [model.efficiency(AFFINE, b, ranks, 4e6, LINK) for b in batches]
    assert all(a < b for a, b in zip(e, e[1:]))
    assert all(0 < x < 1 for x in e)


def test_efficiency_falls_with_more_ranks():
    e = [model.efficiency(AFFINE, 4096, n, 4e6, LINK) for n in (2, 8, 16, 32, 64)]
    assert all(a > b for a, b in zip(e, e[1:]))


def test_smallest_batch_for_the_target_efficiency():
    b = model.min_batch_for_efficiency(AFFINE, 8, 4e6, LINK, 0.8)
    assert model.efficiency(AFFINE, b, 8, 4e6, LINK) >= 0.8
    assert model.efficiency(AFFINE, b // 2, 8, 4e6, LINK) < 0.8
    assert model.min_batch_for_efficiency(AFFINE, 8, 4e6, LINK, 0.8, largest=16) is None
    # a free network leaves only the fixed per-step cost that every rank pays in full
    free = model.Link("free", float("inf"), 0.0)
    assert model.min_batch_for_efficiency(AFFINE, 8, 4e6, free, 0.8) < b


def test_where_communication_dominates():
    # 8 ranks, 4 MB: R = 1.75 * 4 ms + 14 * 10 us = 7.14 ms; c(b) >= 7.14 ms from b = 614
    b = model.comm_dominated_below(AFFINE, 8, 4e6, LINK)
    assert b == 8192  # b = 1024 rows per rank is the first power of two past 614
    assert model.powers_of_two(3, 20) == [4, 8, 16]
