"""Scale-out: explaining many MNIST-shaped samples on a two-worker Dask LocalCluster and in one process (JSON lines).

The model is an MLP 784-512-512-10 (float32, ``DenseNetClassifier``, a short
fit on random data: the timing does not depend on the weights), explained
with LRP-epsilon.  The samples are generated chunk by chunk (``--chunk``
rows each) so that no process holds all of them:

- *one process*: a loop over the chunks, ``explain`` on each NumPy chunk,
  BLAS with its default threads;
- *cluster*: ``model.explain(X)`` on a lazy ``dask.array`` of the same
  chunks (generated on the workers), reduced on the workers to one checksum
  per chunk so that only a few numbers travel back; a
  ``distributed.LocalCluster`` of ``--workers`` processes with one thread
  each (BLAS pinned to one thread in the workers).

Reported: samples per second of both, their ratio, the peak resident memory
of each worker and of the single process (``ru_maxrss``), and the agreement
of the checksums.  On a machine with as many cores as workers the cluster
cannot be faster than one process using all cores; the point is bounded
memory per worker and the same results, with the code unchanged when the
cluster has more machines.

Usage::

    python benchmarks/bench_dask.py [--n-samples 200000] [--chunk 10000] [--workers 2]
"""

import argparse
import json
import os
import platform
import resource
import time
import warnings

import numpy as np


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _chunk(seed, rows, features=784):
    return np.random.default_rng(seed).random((rows, features), dtype=np.float32)


def _checksum(R):
    return np.array([[float(np.abs(R).sum(dtype=np.float64))]])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    try:
        import dask
        import dask.array as da
        import distributed
    except ImportError:
        print(json.dumps({"skipped": "dask and distributed are not installed (pip install '.[dask]')"}))
        return

    from sklrp import DenseNetClassifier

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DenseNetClassifier((512, 512), max_iter=1, batch_size=256, random_state=0, composite="epsilon").fit(
            rng.random((2000, 784), dtype=np.float32), rng.integers(0, 10, 2000))
    n_chunks = -(-args.n_samples // args.chunk)
    sizes = [min(args.chunk, args.n_samples - i * args.chunk) for i in range(n_chunks)]

    # -- one process
    model.explain(_chunk(0, 256))  # warm-up
    t0 = time.perf_counter()
    local = [float(_checksum(model.explain(_chunk(i, rows)))[0, 0]) for i, rows in enumerate(sizes)]
    local_s = time.perf_counter() - t0
    local_rss = _peak_rss_mib()

    # -- cluster
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    try:
        blocks = [da.from_delayed(dask.delayed(_chunk)(i, rows), (rows, 784), dtype=np.float32)
                  for i, rows in enumerate(sizes)]
        X = da.concatenate(blocks, axis=0)
        client.submit(lambda: model.explain(_chunk(0, 256)).sum()).result()  # warm-up: the model on the workers
        t0 = time.perf_counter()
        sums = model.explain(X).map_blocks(_checksum, chunks=((1,) * n_chunks, (1,)), dtype=np.float64)
        remote = client.compute(sums, sync=True).ravel().tolist()
        cluster_s = time.perf_counter() - t0
        worker_rss = client.run(_peak_rss_mib)
    finally:
        client.close()
        cluster.close()

    n = args.n_samples
    print(json.dumps({
        "benchmark": "explain MLP 784-512-512-10, LRP-epsilon, float32, one process vs Dask LocalCluster",
        "machine": platform.machine(), "cpus": os.cpu_count(), "n_samples": n, "chunk": args.chunk,
        "workers": args.workers,
        "one_process_samples_per_s": round(n / local_s, 1),
        "cluster_samples_per_s": round(n / cluster_s, 1),
        "cluster_over_one_process": round(local_s / cluster_s, 3),
        "one_process_peak_rss_mib": round(local_rss, 1),
        "worker_peak_rss_mib": sorted(round(v, 1) for v in worker_rss.values()),
        "checksums_max_rel_diff": float(np.max(np.abs(np.subtract(remote, local)) / np.abs(local))),
        "dask": dask.__version__, "distributed": distributed.__version__,
    }))


if __name__ == "__main__":
    main()
