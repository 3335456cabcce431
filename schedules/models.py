import secrets
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from schedules.limits import (
    SMALLINT_MAX,
    turn_out_of_bounds,
    validate_one_line,
    validate_schedule_instant,
)


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_one_line])
    description = models.TextField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams"
    )
    # Object permissions on the team's things are granted to these groups; membership puts
    # people in them, so moving a person between teams is one change (schedules.permissions).
    managers_group = models.OneToOneField(
        Group, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    responders_group = models.OneToOneField(
        Group, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.pk}


class TeamMembership(models.Model):
    class Role(models.TextChoices):
        MANAGER = "manager", "Manager"
        RESPONDER = "responder", "Responder"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESPONDER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="unique_team_membership")
        ]
        ordering = ["team", "user"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.get_role_display()})"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.team_id}


class TeamUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)


class TeamGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


# Names in the zone directory that are not zones: "localtime" and "posixrules" are whatever
# the server is set to (a schedule naming one would follow the host's configuration), and
# "Factory" is a placeholder without rules. available_timezones() lists them on Debian.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def time_zone_names() -> frozenset[str]:
    """The IANA zone names a schedule may use; the admin offers exactly these. Read once:
    available_timezones() walks the whole zone directory."""
    return frozenset(available_timezones() - NOT_ZONES)


def validate_time_zone(name: str) -> None:
    if name not in time_zone_names():
        raise ValidationError(f"{name!r} is not an IANA time zone name (e.g. Europe/Berlin).")


class Schedule(models.Model):
    """Who is on call, for a team, computed from rotations (layers) and overrides."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="schedules")
    name = models.CharField(max_length=100, validators=[validate_one_line])
    description = models.TextField(blank=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA name. Handoffs and restrictions are wall-clock times in this zone.",
    )
    # Secret of the iCal subscription URL; rotating it revokes every copy of the URL.
    feed_token = models.CharField(
        max_length=64, unique=True, default=new_feed_token, editable=False
    )

    class Meta:
        ordering = ["team", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="unique_schedule_name_per_team")
        ]

    def __str__(self) -> str:
        return self.name

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.team_id}


class Rotation(models.Model):
    """One layer of a schedule: participants take turns of a fixed length from `start`.

    Its bounds are schedules.limits: instants from 1970 to 2999 and turns of at most a year
    (checked here, by the field validators and clean()), at most MAX_PARTICIPANTS places and
    MAX_RESTRICTIONS windows (rows of their own, so checked where they are written together:
    the admin's inlines and the API)."""

    class Unit(models.TextChoices):
        MINUTES = "minutes", "minutes"
        HOURS = "hours", "hours"
        DAYS = "days", "days"
        WEEKS = "weeks", "weeks"

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="rotations")
    name = models.CharField(max_length=100, validators=[validate_one_line])
    priority = models.PositiveSmallIntegerField(
        default=1,
        validators=[MaxValueValidator(SMALLINT_MAX)],
        help_text="Where layers overlap, the one with the higher priority (the bigger number) "
        "wins.",
    )
    start = models.DateTimeField(
        help_text="The first handoff.", validators=[validate_schedule_instant]
    )
    end = models.DateTimeField(
        null=True,
        blank=True,
        validators=[validate_schedule_instant],
        help_text="Optional: the layer stops here.",
    )
    # From 15 minutes to a year (schedules.limits): clean() checks, as it depends on the unit.
    turn_length = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    turn_unit = models.CharField(
        max_length=10,
        choices=Unit.choices,
        default=Unit.WEEKS,
        help_text="Days and weeks hand off at the same local time across DST changes; "
        "minutes and hours are absolute durations (any custom length: 90 minutes, 36 hours).",
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Blank: the schedule's. The zone this layer's handoffs and restrictions are "
        "wall-clock times in: give each region's layer of a follow-the-sun schedule its "
        "region's zone, and it keeps its local hours across that region's DST changes.",
    )

    class Meta:
        ordering = ["schedule", "-priority", "pk"]

    def __str__(self) -> str:
        return f"{self.schedule} / {self.name}"

    @property
    def zone_name(self) -> str:
        """The zone its wall-clock times are in: its own, else its schedule's."""
        return self.time_zone or self.schedule.time_zone

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.schedule.team_id}

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.start and self.end and self.end <= self.start:
            errors["end"] = "The end must be after the start."
        # The length may be missing or invalid here (its own field says so), the unit too (it
        # then gives no bound).
        if isinstance(self.turn_length, int) and (
            reason := turn_out_of_bounds(self.turn_length, str(self.turn_unit))
        ):
            errors["turn_length"] = reason
        if errors:
            raise ValidationError(errors)


class RotationParticipant(models.Model):
    """A place in the rotation's order; a person may hold several places."""

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(SMALLINT_MAX)]
    )

    class Meta:
        ordering = ["rotation", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.position}: {self.user}"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.rotation.schedule.team_id}


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class Restriction(models.Model):
    """A window, in the rotation's time zone, when the rotation is active. Without a start
    day it repeats every day (an end at or before the start runs past midnight); with one it
    is weekly, e.g. Friday 18:00 to Monday 08:00. A rotation with no restriction is always on."""

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="restrictions")
    start_day = models.PositiveSmallIntegerField(choices=Weekday.choices, null=True, blank=True)
    start_time = models.TimeField()
    end_day = models.PositiveSmallIntegerField(choices=Weekday.choices, null=True, blank=True)
    end_time = models.TimeField()

    class Meta:
        ordering = ["rotation", "start_day", "start_time"]

    def __str__(self) -> str:
        start = f"{self.get_start_day_display()} " if self.start_day is not None else "daily "
        end = f"{self.get_end_day_display()} " if self.end_day is not None else ""
        return f"{start}{self.start_time:%H:%M} - {end}{self.end_time:%H:%M}"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.rotation.schedule.team_id}

    def clean(self) -> None:
        if (self.start_day is None) != (self.end_day is None):
            raise ValidationError("Give both days (a weekly window) or neither (a daily one).")
        if self.start_day is None and self.start_time == self.end_time:
            raise ValidationError("A daily window needs different start and end times.")


class Override(models.Model):
    """Someone covers [start, end) instead of whoever the layers give. Where overrides
    overlap, the most recently created wins."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField(validators=[validate_schedule_instant])
    end = models.DateTimeField(validators=[validate_schedule_instant])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["schedule", "start"]
        indexes = [models.Index(fields=["schedule", "end", "start"], name="override_window")]

    def __str__(self) -> str:
        # In UTC, said so: it heads the row on the schedule's page (whose fields are in the
        # schedule's zone) and is the audit log's name for the override, which must not
        # depend on a zone that may change (nor cost a query for it).
        return f"{self.user}, {self.start:%Y-%m-%d %H:%M} - {self.end:%Y-%m-%d %H:%M} UTC"

    def get_additional_data(self) -> dict[str, Any]:
        return {"team_id": self.schedule.team_id}

    def clean(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": "The end must be after the start."})


class PersonSettings(models.Model):
    """A person's own preferences: shift reminders and their personal calendar feed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="person_settings"
    )
    notify_shift_start = models.BooleanField(
        default=False, help_text="E-mail me shortly before each of my on-call shifts starts."
    )
    notify_shift_end = models.BooleanField(
        default=False, help_text="E-mail me when each of my on-call shifts ends."
    )
    feed_token = models.CharField(
        max_length=64, unique=True, default=new_feed_token, editable=False
    )

    class Meta:
        verbose_name_plural = "person settings"

    def __str__(self) -> str:
        return f"settings of {self.user}"


class ScheduleUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Schedule, on_delete=models.CASCADE)


class ScheduleGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Schedule, on_delete=models.CASCADE)


# Memberships are audited as rows; `members` also records `team.members.add()`, which
# bulk-creates them without a save.
auditlog.register(Team, m2m_fields={"members"})
auditlog.register(TeamMembership)
auditlog.register(TeamUserObjectPermission)
auditlog.register(TeamGroupObjectPermission)
auditlog.register(Schedule, exclude_fields=["feed_token"])
auditlog.register(Rotation)
auditlog.register(RotationParticipant)
auditlog.register(Restriction)
auditlog.register(Override)
auditlog.register(PersonSettings, exclude_fields=["feed_token"])
auditlog.register(ScheduleUserObjectPermission)
auditlog.register(ScheduleGroupObjectPermission)
# People and their groups (how roles are granted). Secrets are never copied into the log.
# auditlog also diffs reverse one-to-one relations, as their objects' str(): a token's is its
# key. Tokens and settings have entries of their own (without their secrets).
auditlog.register(
    get_user_model(),
    exclude_fields=["password", "last_login", "auth_token", "person_settings"],
    m2m_fields={"groups", "user_permissions"},
)
auditlog.register(Group, m2m_fields={"permissions"})
