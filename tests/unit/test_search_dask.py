"""`dnslab search --workers N`: trials fanned out over a real Dask LocalCluster (two worker
processes) give the search the in-process executor gives, schedule for schedule."""

import os
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from lab.core.faultspace import FaultSpace  # noqa: E402
from lab.scenario import load  # noqa: E402
from lab.search import dist  # noqa: E402
from lab.search.engine import BATCH, CHUNK, Here, search  # noqa: E402
from lab.search.trial import EMPTY  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STEADY = ROOT / "experiments" / "steady-state.yaml"
SEED, BUDGET = 1, 256


class Counting:
    """The Dask executor, counting the tasks it is given."""

    def __init__(self, inner):
        self.inner = inner
        self.tasks = 0

    def map(self, fn, jobs):
        self.tasks += len(jobs)
        return self.inner.map(fn, jobs)


@pytest.fixture(scope="module")
def cluster():
    runner = dist.Dask(workers=2)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def base():
    return load(STEADY)


def essence(r) -> dict:
    return {"explored": r.explored, "counts": r.counts, "errors": r.errors,
            "first_error": r.first_error,
            "found": {v: (f.index, f.schedule, f.outcome) for v, f in r.found.items()},
            "interleavings": r.interleavings, "pairs": r.pairs, "curve": r.curve,
            "max_empty_s": r.max_empty_s, "unrecovered": r.unrecovered,
            "possible_pairs": r.possible_pairs}


def test_the_cluster_has_two_single_threaded_worker_processes(cluster):
    assert cluster.workers == 2
    workers = cluster.client.scheduler_info()["workers"].values()
    assert [w["nthreads"] for w in workers] == [1, 1]
    pids = set(cluster.client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    assert isinstance(dist.executor(workers=1, cluster=None), Here)
    assert isinstance(dist.executor(workers=None, cluster=None), Here)


@pytest.mark.parametrize("strategy", ["random", "coverage"])
def test_dask_gives_the_in_process_search(cluster, base, strategy):
    space = FaultSpace()
    here = search(base, space, strategy=strategy, seed=SEED, budget=BUDGET, exhaust=True,
                  executor=Here())
    counted = Counting(cluster)
    there = search(base, space, strategy=strategy, seed=SEED, budget=BUDGET, exhaust=True,
                   executor=counted)
    assert counted.tasks == BUDGET // CHUNK
    assert here.explored == there.explored == BUDGET
    assert len(here.curve) == BUDGET // BATCH
    assert EMPTY in here.found and here.errors == 0
    assert essence(there) == essence(here)
