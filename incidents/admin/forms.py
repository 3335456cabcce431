"""The small forms on an incident's admin page: resolve (with a note), reassign, add a note.

They only read and check what was posted; the services decide (and check again).
"""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from incidents.models import Incident
from incidents.services import NOTE_MAX_LENGTH
from schedules.access import team_members
from schedules.models import Team


class IncidentActionForm(forms.Form):
    """A form about one incident. Each kind gets its own HTML ids, since all three are on the
    same page and two of them have a `note`."""

    id_prefix = ""

    def __init__(self, *args: Any, incident: Incident, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)
        self.incident = incident

    def error_text(self) -> str:
        """The form's errors in one line, for a message on the incident's page."""
        parts = []
        for name, errors in self.errors.items():
            text = " ".join(str(error) for error in errors)
            parts.append(f"{self.fields[name].label}: {text}" if name in self.fields else text)
        return " ".join(parts)


def _text(label: str, *, required: bool, rows: int, placeholder: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": rows, "cols": 40, "placeholder": placeholder}),
    )


class ResolveForm(IncidentActionForm):
    id_prefix = "resolve"
    note = _text(
        "Resolution note",
        required=False,
        rows=2,
        placeholder="What was wrong, what fixed it (optional)",
    )


class ReassignForm(IncidentActionForm):
    id_prefix = "reassign"
    # Named after the incident's field (the admin's own conventions, and its tests, read a
    # select's name as the model field it edits).
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), label="Reassign to")
    note = _text("Note for them", required=False, rows=1, placeholder="Optional")

    def __init__(self, *args: Any, incident: Incident, **kwargs: Any) -> None:
        super().__init__(*args, incident=incident, **kwargs)
        team = Team.objects.filter(pk=incident.service.team_id)
        field: forms.ModelChoiceField = self.fields["assignee"]  # type: ignore[assignment]
        field.queryset = team_members(team).order_by("username")


class NoteForm(IncidentActionForm):
    id_prefix = "note"
    text = _text("Note", required=True, rows=2, placeholder="Add a note to the timeline")
