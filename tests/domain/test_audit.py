"""The register's chain, checked without a database: each break named by its row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.audit import ChainRow, chain_findings, event_hash


def test_the_chain_names_each_break_without_a_database():
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    def row(seq: int, prev: str, summary: str = "x") -> ChainRow:
        fields = {"case_number": "2026-00001", "event_id": f"event-{seq:05d}", "at": at + timedelta(minutes=seq),
                  "actor_id": "system", "actor_role": "system", "kind": "noted", "stage": "received",
                  "summary": summary}
        digest = event_hash(prev, fields["case_number"], seq, fields["event_id"], fields["at"], "system", "system",
                            "noted", "received", summary)
        return ChainRow(**fields, seq=seq, prev_hash=prev, hash=digest)

    first = row(1, "")
    second = row(2, first.hash or "")
    third = row(3, second.hash or "")
    assert chain_findings("2026-00001", [first, second, third]) == []
    edited = second.model_copy(update={"summary": "y"})
    assert [f.row for f in chain_findings("2026-00001", [first, edited, third])] == ["händelse event-00002 (nr 2)"]
    problems = chain_findings("2026-00001", [first, third])
    assert [(f.row, f.problem.split(" (")[0]) for f in problems] == [
        ("händelse nr 2", "saknas i kedjan före händelse event-00003")]
    forged = edited.model_copy(update={"hash": event_hash("", "x", 0, "x", at, "x", "x", "x", "x", "x")})
    assert "pekar inte på hashen" in chain_findings("2026-00001", [first, forged, third])[-1].problem
