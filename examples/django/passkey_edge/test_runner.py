"""Django's test runner, plus a JSON count of the results for the CI's tally.

When PASSKEY_EDGE_TEST_REPORT names a file, the counts go there; the entry
script (examples/django/run.ts) adds them to the end-to-end checks and
prints one "N passed, N failed" line.
"""
import json
import os

from django.test.runner import DiscoverRunner


class CountingTestRunner(DiscoverRunner):
    def suite_result(self, suite, result, **kwargs):
        path = os.environ.get("PASSKEY_EDGE_TEST_REPORT")
        if path:
            failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
            passed = result.testsRun - failed - len(result.skipped)
            with open(path, "w") as report:
                json.dump({"passed": passed, "failed": failed, "skipped": len(result.skipped)}, report)
        return super().suite_result(suite, result, **kwargs)
