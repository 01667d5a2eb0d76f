"""What an application must contain: descriptions, appendices and advisories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from domain.application import ATTACHMENT_KIND_LABELS_SV, AttachmentKind
from domain.paths import json_path, resolve
from domain.rules.base import Problem, Rule, Submission, TextPath


class TextsRequired(Rule):
    check: Literal["texts_required"]
    fields: Annotated[list[TextPath], Field(min_length=1)]
    # Swedish name of each text, so the finding tells the applicant what to write.
    labels: dict[str, str]

    @model_validator(mode="after")
    def _labels_name_fields(self) -> TextsRequired:
        # A label for a field not listed is a typo that would leave the real field unlabelled.
        stray = sorted(set(self.labels) - set(self.fields))
        if stray:
            raise ValueError(f"labels for fields not in `fields`: {', '.join(stray)}")
        return self

    def problems(self, submission: Submission) -> Iterator[Problem]:
        for path in self.fields:
            value = resolve(submission.application, path)
            if not (isinstance(value, str) and value.strip()):
                yield json_path(path), f"Ansökan saknar en beskrivning av {self.labels.get(path, path)}."


class AttachmentRequired(Rule):
    check: Literal["attachment_required"]
    kind: AttachmentKind

    def problems(self, submission: Submission) -> Iterator[Problem]:
        if not any(a.kind is self.kind for a in submission.application.attachments):
            yield "$.attachments", f"Ansökan saknar {ATTACHMENT_KIND_LABELS_SV[self.kind]}."


class Advisory(Rule):
    """Something the call advises against: always a finding when its `when` holds."""

    check: Literal["advisory"]
    field: TextPath | None = None
    message: Annotated[str, Field(min_length=1, max_length=1000)]

    def problems(self, submission: Submission) -> Iterator[Problem]:
        yield (json_path(self.field) if self.field else "$"), self.message
