"""numrec's console scripts: ``numrec-train``, ``numrec-eval``, ``numrec-predict`` and
``numrec-datasets`` (one module each; ``common`` holds what they share).

Each module's ``main(argv=None) -> int`` is the entry point named in pyproject.toml; it
returns the exit status: 0 done, 2 bad usage or bad data, 130 interrupted.
"""
