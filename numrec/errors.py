"""The exceptions numrec raises for bad data and failed downloads.

Both are ``ValueError`` subclasses so that callers who only know "bad input" can catch
them, and the command line turns them into one clear line and exit status 2.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A data set could not be read: the message names the file (and line) and what
    was expected instead."""


class DownloadError(DatasetError):
    """Every mirror of a file failed; the message lists each one tried and why."""

    def __init__(self, filename: str, attempts: list[tuple[str, str]]):
        self.filename = filename
        self.attempts = list(attempts)
        lines = [f"could not download {filename}; tried {len(attempts)} mirror(s):"]
        lines += [f"  {url}: {why}" for url, why in attempts]
        super().__init__("\n".join(lines))
