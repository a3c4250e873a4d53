"""What a build reports instead of raising: a defect of a doc page, with its file and line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocWarning:
    """A defect of a doc page that the build survived. ``file`` is a ``source`` path (relative
    to its ``docs`` entry, ``/`` separators); ``line`` is 1-based, 0 when no line applies."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class Sink:
    """Collects warnings in the order the build meets them."""

    def __init__(self) -> None:
        self.items: list[DocWarning] = []

    def warn(self, file: str, line: int, message: str) -> None:
        self.items.append(DocWarning(file, line, message))
