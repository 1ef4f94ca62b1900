"""The pieces of change and undo (issue 16): the guard, what changed, each vendor's calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.core.outcomes import ExitCode, JournalState, Status
from importer.jobs.changes import ConfirmationNeededError, Guard, describe, differences, update_row
from importer.store.journal import Journal
from importer.vendors import plugin

V2 = {"pathId": "6853f6de567dc5f80528f80d", "name": "Onboarding", "mainInstructorId": "a" * 24,
      "startDate": "2027-03-01T09:00:00.000Z", "endDate": "2027-03-31T17:00:00.000Z",
      "userLimit": "20", "registrationRequestValidation": "disabled", "_marker": "[imp:1]"}  # fmt: skip


@pytest.mark.parametrize(
    ("journaled", "count", "stops"),
    [(10, 6, True), (10, 5, False), (100, 20, False), (100, 21, True), (1000, 51, True),
     (1000, 50, False), (0, 5, False), (3, 3, False)],
)  # fmt: skip
def test_the_guard_stops_above_its_share_or_its_rows(
    journaled: int, count: int, stops: bool
) -> None:
    """20% of the account's rows or 50 rows, whichever is smaller; 5 rows or fewer never stop."""
    if stops:
        with pytest.raises(ConfirmationNeededError, match=f"--confirm {count}") as caught:
            Guard().check(count, journaled, "update")
        assert caught.value.exit_code == ExitCode.NEEDS_CONFIRMATION == 4
    else:
        Guard().check(count, journaled, "update")


def test_the_guard_takes_only_the_exact_count() -> None:
    """--confirm N passes the guard only when N is the count, above the limit or below it."""
    Guard(confirm=60).check(60, 100, "undo")
    for wrong in (59, 61, 0):
        with pytest.raises(ConfirmationNeededError, match=f"--confirm {wrong} does not match"):
            Guard(confirm=wrong).check(60, 100, "undo")
    with pytest.raises(ConfirmationNeededError):
        Guard(confirm=3).check(2, 100, "undo")  # a wrong count is refused even under the limit
    Guard().check(2, 100, "undo")  # under the limit, nothing to confirm
    Guard(share=100, rows=1000).check(60, 100, "undo")  # limits are configurable


class _Notes(dict[str, str]):
    def meta(self, key: str) -> str | None:
        return self.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self[key] = value


def test_a_confirmed_change_resumes_with_the_same_confirm() -> None:
    """Interrupted after 49 of 200 confirmed rows, the same command (--confirm 200) finishes
    the other 151; another change of 151 rows, or new values for them, is still refused."""
    notes = _Notes()
    rows = [f"k{n}:v" for n in range(200)]
    Guard(confirm=200).check(200, 300, "undo", rows, notes)
    Guard(confirm=200).check(151, 300, "undo", rows[49:], notes)
    with pytest.raises(ConfirmationNeededError, match="give --confirm 151"):
        Guard(confirm=200).check(151, 300, "undo", [f"other{n}:v" for n in range(151)], notes)
    with pytest.raises(ConfirmationNeededError):
        Guard(confirm=200).check(151, 300, "update", [f"k{n}:w" for n in range(151)], notes)
    with pytest.raises(ConfirmationNeededError):  # nothing kept: no resuming
        Guard(confirm=200).check(151, 300, "undo", rows[49:], None)
    Guard(confirm=200).check(0, 300, "undo", [], notes)  # all done: the same command, a no-op


def test_differences_name_each_changed_field_old_to_new() -> None:
    """Only the row's own fields count (not the importer's tags); empty shows as (empty)."""
    after = V2 | {"startDate": "2027-03-02T09:00:00.000Z", "userLimit": None, "_marker": "[x]"}
    changed = differences(V2, after)
    assert changed == {
        "startDate": (V2["startDate"], after["startDate"]),
        "userLimit": ("20", None),
    }
    said = describe(changed)
    assert said == (
        "startDate: 2027-03-01T09:00:00.000Z → 2027-03-02T09:00:00.000Z; userLimit: 20 → (empty)"
    )


def test_v2_patches_only_what_changed_and_clears_nullable_fields() -> None:
    """The PATCH body holds the changed fields; an emptied user limit is sent as null; a
    session cannot move path (a sentence, no call); co-instructors become a list."""
    changes = plugin("360learning-v2").changes
    assert changes is not None and changes.update is not None and changes.delete is not None
    after = V2 | {"mainInstructorId": "b" * 24, "userLimit": None, "instructorIds": "c" * 24}
    calls = changes.update(V2, after, "9" * 24)
    assert isinstance(calls, list) and len(calls) == 1
    assert calls[0].method == "PATCH" and calls[0].path.endswith(f"/sessions/{'9' * 24}")
    assert calls[0].json == {"mainInstructorId": "b" * 24, "instructorIds": ["c" * 24],
                             "userLimit": None}  # fmt: skip
    moved = changes.update(V2, V2 | {"pathId": "6853f6de567dc5f80528f80e"}, "9" * 24)
    assert isinstance(moved, str) and "another path" in moved
    assert changes.update(V2, V2 | {"_marker": "other"}, "9" * 24) == []
    (delete,) = changes.delete(V2, "9" * 24)
    assert (delete.method, delete.path) == (
        "DELETE",
        f"/api/v2/paths/{V2['pathId']}/sessions/{'9' * 24}",
    )


def test_coursepath_moves_an_enrolment_and_updates_the_member() -> None:
    """A changed course: enrolled in the new one, removed from the old one (the call says the
    vendor deletes the learner's results); a changed name: the member updated; a changed email
    is another member (no call); the undo removes the enrolments only."""
    changes = plugin("coursepath").changes
    assert changes is not None and changes.update is not None and changes.delete is not None
    before = {"email": "jo@example.com", "name": "Jo", "courseId": "11", "groups": "A; B"}
    after = before | {"name": "Joanna", "courseId": "12", "groups": "B; C"}
    calls = changes.update(before, after, "77")
    assert isinstance(calls, list)
    assert [(c.method, c.path) for c in calls] == [
        ("POST", "/api/v1/members/77"),
        ("POST", "/api/v1/courses/12/members/77/coursemember"),
        ("DELETE", "/api/v1/courses/11/members/77/coursemember"),
        ("POST", "/api/v1/members/77/groups"),
        ("DELETE", "/api/v1/members/77/groups"),
    ]
    assert calls[0].form == {"name": "Joanna"} and "deletes the learner's results" in calls[2].name
    assert (calls[3].form, calls[4].params) == ({"name": "C"}, {"name": "A"})
    other = changes.update(before, before | {"email": "jane@example.com"}, "77")
    assert isinstance(other, str) and "another member" in other
    undo = changes.delete(before | {"programId": "5"}, "77")
    assert [(c.method, c.path) for c in undo] == [
        ("DELETE", "/api/v1/courses/11/members/77/coursemember"),
        ("DELETE", "/api/v1/programs/5/members/77/programmember"),
    ]
    assert changes.check(undo[0]) is not None and changes.check(undo[1]) is None
    assert "deletes all learning results" in changes.warning


def test_an_update_with_nothing_to_send_rewrites_the_journal_only(tmp_path: Path) -> None:
    """A row whose edit the vendor does not keep (an importer tag only) is recorded with its
    new values and reported skipped; nothing is sent (no sender is even needed)."""
    journal = Journal(tmp_path / "j.sqlite", "360learning-v2")
    journal.remember("k", "old", 2, V2)
    journal.outcome("k", JournalState.CREATED, "9" * 24)
    entry = journal.get("k")
    assert entry is not None
    now = V2 | {"_marker": "other"}
    result = update_row(plugin("360learning-v2"), journal, None, "k", "new", entry, now)  # type: ignore[arg-type]
    assert result.status == Status.SKIPPED
    kept = journal.get("k")
    assert kept is not None and (kept.fingerprint, kept.state) == ("new", "created")
    assert kept.created_id == "9" * 24


def test_an_undo_finds_a_runs_rows_by_its_result_sheet(tmp_path: Path) -> None:
    """By result sheet (.csv with ; or .xlsx): the rows it reports created or updated, by their
    IDs; rows it skipped are another run's; a sheet without the columns is a clear error."""
    import pandas as pd

    from importer.core.errors import ConfigurationError, InputError
    from importer.jobs.undo import select
    from importer.results.sheet import ResultSheet, write_result

    journal = Journal(tmp_path / "j.sqlite", "360learning-v2")
    for n, state in enumerate(("created", "created", "deleted", "unknown")):
        journal.remember(f"k{n}", f"p{n}", n + 2, V2 | {"_run": 1})
        journal.outcome(f"k{n}", state, f"ID{n}")
    frame = pd.DataFrame(
        {
            "Status": ["created", "skipped", "updated", "created"],
            "Created ID": ["ID0", "ID1", "ID2", "ID3"],
        }
    )
    for name, delimiter in (("r.csv", ";"), ("r.xlsx", ",")):
        written = write_result(ResultSheet(frame, [], delimiter), tmp_path / name)
        assert [e.key for e in select(journal, result=written)] == ["k0", "k2"]
    journal.start_run("sheet.csv")
    assert [e.key for e in select(journal, run=1)] == ["k0", "k1", "k2"]  # not the unknown one
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="no Status and Created ID"):
        select(journal, result=bad)
    with pytest.raises(ConfigurationError, match="has no run 7"):
        select(journal, run=7)
