"""The forms of the employer-admin pages. They only read and check what was typed (the same
fields and limits as the roster and import APIs' serializers); the rules stay in the services
(`employers/roster.py`, `employers/imports.py`), whose errors the views put back on the fields."""

from __future__ import annotations

from typing import Any

from django import forms

from config import clock
from employers.imports import COLUMNS, MAX_FILE_BYTES, MAX_ROWS
from employers.selectors import RosterStatus


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class RosterFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        help_text="Name, work email, or the start of an external id.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any"), *((s.value, s.value.capitalize()) for s in RosterStatus)],
    )

    def status_given(self) -> RosterStatus | None:
        value = self.cleaned_data.get("status") if self.is_valid() else None
        return RosterStatus(value) if value else None

    def q_given(self) -> str:
        return str(self.cleaned_data.get("q") or "") if self.is_valid() else ""


class RosterEntryAddForm(forms.Form):
    """The fields of `employers.roster.RosterEntryInput`."""

    external_id = forms.CharField(label="External id", max_length=64)
    full_name = forms.CharField(label="Full name", max_length=200)
    work_email = forms.EmailField(label="Work email")
    date_of_birth = forms.DateField(label="Date of birth", widget=DateInput())
    eligible_from = forms.DateField(label="Eligible from", widget=DateInput())
    eligible_until = forms.DateField(
        label="Eligible until",
        required=False,
        help_text="The last eligible day (inclusive); leave empty for open-ended.",
        widget=DateInput(),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "add")
        super().__init__(*args, **kwargs)


class RosterTerminateForm(forms.Form):
    effective_date = forms.DateField(
        label="Last eligible day",
        help_text="The employee stays covered through this day.",
        widget=DateInput(),
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"effective_date": clock.today()})
        super().__init__(*args, **kwargs)


class RosterImportUploadForm(forms.Form):
    file = forms.FileField(
        label="Roster file (CSV)",
        help_text=(
            "UTF-8 CSV whose first line is the header "
            + ",".join(COLUMNS)
            + f". Dates as YYYY-MM-DD. At most {MAX_ROWS:,} rows and "
            f"{MAX_FILE_BYTES // (1024 * 1024)} MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    replace = forms.BooleanField(
        label="Full replacement",
        required=False,
        help_text="Employees missing from the file are terminated when the import is applied.",
    )

    def clean_file(self) -> Any:
        file = self.cleaned_data["file"]
        if file.size is not None and file.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                f"The file has {file.size:,} bytes; an import takes at most {MAX_FILE_BYTES:,}."
            )
        return file


class RosterImportConfirmForm(forms.Form):
    valid_rows_only = forms.BooleanField(
        label="Import only the valid rows (the rows with errors are skipped)", required=False
    )
