"""What the tests share: fixtures' servers, generated items and batches.

pytest puts tests/ on ``sys.path`` (tests/ has no ``__init__.py``), so tests
import these as ``helpers.<module>``; the benchmarks, run from the
repository root as ``python -m bench.<name>``, import them as
``tests.helpers.<module>``. No test imports another test module.

- ``seaweed``: a real SeaweedFS server on 127.0.0.1;
- ``live_server``: the e-library under uvicorn on a free port;
- ``catalog_data``: catalog registrations without running the pipeline;
- ``reader_item``: a small typeset book for the reader-output tests;
- ``flows``: art batches and a real ``digitize`` CLI run;
- ``spreads``: generated two-page spreads and wide single pages.
"""
