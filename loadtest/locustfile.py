"""`locust -f loadtest/locustfile.py ...`: the load test `bankscore loadtest` runs (see loadtest/README.md)."""

from bankscore.loadtest.users import *  # noqa: F403 - locust finds the user class and the hooks here
