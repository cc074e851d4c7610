"""Load tests (`pip install "bankscore[loadtest]"`): SLO gates and an ab-style summary over locust's statistics.

`gates` is plain Python (the pass/fail logic and the summary, tested without locust); `users` is the
locust user and its hooks, which `loadtest/locustfile.py` exposes to locust. Importing `users` imports
locust, which monkey-patches with gevent: run it in its own process, as `bankscore loadtest` does.
"""

from .gates import AB_PERCENTILES, Figures, Gates, Verdict, ab_summary, judge, render

__all__ = ["AB_PERCENTILES", "Figures", "Gates", "Verdict", "ab_summary", "judge", "render"]
