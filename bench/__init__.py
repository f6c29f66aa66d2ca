"""Benchmarks of arkor_rx against its peers: ``make bench`` (see ``bench/run.py``).

Not part of the library and not part of the tests: timing goals live here
only. ``tests/bench/test_bench_smoke.py`` runs each workload at a tiny size
so that this code cannot rot.
"""
