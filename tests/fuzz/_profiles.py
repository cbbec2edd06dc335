"""Hypothesis profiles of the fuzz suite.

- ``ci`` (loaded unless ``--hypothesis-profile`` is given): derandomized, so a
  CI run is reproducible; ``CI_EXAMPLES`` examples per test, more than 2,000
  over the suite, in well under three minutes on two cores.
- ``long``: ``LONG_EXAMPLES`` per test, more than 10,000 over the suite;
  randomized, so that every long run explores new inputs (a failure prints
  the falsifying example and a ``@reproduce_failure`` blob).

No profile writes an example database (``.hypothesis/``) into the checkout.

``register()`` is idempotent.  ``tests/fuzz/conftest.py`` calls it; when the
suite is run from the repository root with a profile
(``pytest -m fuzz --hypothesis-profile=long``), hypothesis' pytest plugin
loads the profile before ``tests/fuzz/conftest.py`` is imported, so the
profiles must then be registered by an initial conftest as well
(``tests/conftest.py``: ``import fuzz._profiles``, which registers them on
import).
"""

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 100
LONG_EXAMPLES = 550

_COMMON = {
    "deadline": None,  # each call has its own 30 s hang limit (see _support.time_limit)
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def register():
    settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)
    settings.register_profile("long", max_examples=LONG_EXAMPLES, derandomize=False, **_COMMON)


register()
