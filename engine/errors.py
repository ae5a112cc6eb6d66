# SPDX-License-Identifier: Apache-2.0
"""The one exception tree of leukodx.

Every error a caller can trigger with bad data is a subclass of :class:`LeukodxError` and carries
*where* (a field path or a ``file:line``), *what* was found and *what was expected*, plus a
did-you-mean suggestion when one exists. The CLI prints these messages verbatim and exits 2.

    LeukodxError
    ├── InputError(ValueError)          invalid patient facts or case file (contract section 1)
    ├── KnowledgeBaseError              rules/ failed to load or lint; holds every problem
    └── BackendUnavailableError         a requested inference backend is not installed
"""

from __future__ import annotations

from dataclasses import dataclass


class LeukodxError(Exception):
    """Base class: anything leukodx raises on purpose."""


class InputError(LeukodxError, ValueError):
    """Patient facts that do not meet the contract.

    ``field`` is the dotted path of the offending value (``labs[2].unit``); the message always has
    the shape ``<field>: <problem> (got <value>; expected <what>)`` followed by an optional
    ``did you mean '<word>'?``.
    """

    def __init__(
        self,
        field: str,
        problem: str,
        *,
        got: object = None,
        expected: str | None = None,
        suggestion: str | None = None,
        source: str | None = None,
    ) -> None:
        self.field = field
        self.problem = problem
        self.got = got
        self.expected = expected
        self.suggestion = suggestion
        self.source = source
        super().__init__(self._format())

    def _format(self) -> str:
        where = f"{self.source}: " if self.source else ""
        text = f"{where}{self.field}: {self.problem}"
        details = []
        if self.got is not None:
            details.append(f"got {self.got!r}")
        if self.expected:
            details.append(f"expected {self.expected}")
        if details:
            text += f" ({'; '.join(details)})"
        if self.suggestion:
            text += f"; did you mean '{self.suggestion}'?"
        return text

    def with_source(self, source: str) -> InputError:
        """The same error, prefixed with the file it came from."""
        return InputError(
            self.field,
            self.problem,
            got=self.got,
            expected=self.expected,
            suggestion=self.suggestion,
            source=source,
        )


@dataclass(frozen=True, order=True)
class Problem:
    """One knowledge-base finding from :func:`engine.kb.load.load_knowledge_base`."""

    file: str
    line: int
    where: str
    message: str
    severity: str = "error"  # "error" or "warning"
    code: str = ""  # a stable tag for warnings that ``lint --strict`` turns into errors

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        tag = "" if self.severity == "error" else "warning: "
        where = f"{self.where}: " if self.where else ""
        return f"{loc}: {tag}{where}{self.message}"


class KnowledgeBaseError(LeukodxError):
    """The knowledge base has errors; ``problems`` lists every one (and the warnings)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        head = f"knowledge base has {len(errors)} error(s)"
        super().__init__("\n".join([head, *(str(p) for p in errors)]))


class BackendUnavailableError(LeukodxError):
    """The requested backend needs an optional dependency that is not installed."""
