"""Fanning trials out over Dask distributed: ``--workers N`` starts a local cluster of N
worker processes (one thread each: a trial is pure Python and holds the GIL), ``--cluster
tcp://HOST:PORT`` uses a running scheduler whose workers have the lab installed
(``pip install -e .`` of the same checkout). Tasks are chunks of a batch's schedules
(lab/search/engine.run_chunk); results come back in order, so the search is the same on
any number of workers."""

from lab.errors import LabError


class Dask:
    def __init__(self, *, workers: int | None = None, cluster: str | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise LabError("--workers and --cluster need Dask distributed: pip install "
                           "'dask[distributed]' (or .[search]) in the lab's environment") from None
        self.cluster = None
        if cluster:
            try:
                self.client = Client(cluster, timeout="10s")
            except (OSError, TimeoutError) as e:
                raise LabError(f"--cluster {cluster}: no Dask scheduler answers there ({e}); "
                               "start one (`dask scheduler`) or check the address") from None
        else:
            # Loopback only, on ports the system picks (nothing else's port is taken).
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                        processes=True, host="127.0.0.1", scheduler_port=0,
                                        dashboard_address="127.0.0.1:0", silence_logs=40)
            self.client = Client(self.cluster)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or (workers or 1)

    def map(self, fn, jobs: list) -> list:
        return self.client.gather(self.client.map(fn, jobs, pure=False))

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def executor(*, workers: int | None, cluster: str | None):
    """Where trials run: here (no option, or --workers 1), or on Dask."""
    if cluster:
        return Dask(cluster=cluster)
    if workers and workers > 1:
        return Dask(workers=workers)
    from lab.search.engine import Here
    return Here()
