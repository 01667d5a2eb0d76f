"""What validation tells the officer: one finding per broken rule and place."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, computed_field


class Severity(StrEnum):
    ERROR = "error"  # the application is not eligible as it stands
    WARNING = "warning"  # the officer should know; eligibility is not affected


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    severity: Severity
    field: str  # JSON path into the application, "$" for the application as a whole
    message: str  # Swedish: read by the officer and, in letters, by the applicant


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    findings: list[Finding]

    @computed_field  # type: ignore[prop-decorator]  # mypy cannot see through pydantic's documented idiom
    @property
    def eligible(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]
