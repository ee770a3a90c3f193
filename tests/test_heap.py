"""A working process freezes what stays alive, so the collector's full passes skip it (`tlcore.heap`)."""

from __future__ import annotations

import gc
import weakref

import pytest

from tlcore import heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def thawed():
    yield
    gc.unfreeze()  # leave this test process as it was


def test_settling_collects_the_dead_and_freezes_the_living(thawed):
    dead = Node()
    gone = weakref.ref(dead)
    del dead
    kept = [Node() for _ in range(1000)]  # alive for the process's life, as a worker's loaded base is
    frozen = heap.settle()
    assert gone() is None  # what the last job left in cycles is collected first
    assert frozen == gc.get_freeze_count() >= len(kept)
    tracked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in tracked for node in kept)  # out of every generation a full collection walks

    later = weakref.ref(kept[0])
    del kept  # a frozen cycle that dies later waits for the next settle, and no longer
    gc.collect()
    assert later() is not None
    heap.settle()
    assert later() is None
