"""The schedules app's admin: the managers' main screen (schedules, their layers (rotations)
and overrides, with the schedule's timeline on its page), teams and their members, users, and
each person's own settings.

Rotations and overrides have no permissions of their own: they are their schedule's
(schedules.admin.access.ParentScopedAdmin, and ParentScopedInline with owner_path). Times are
the schedule's local times (schedules.admin.times).

What is where:
- access: the guardian-aware admin base classes, also used by escalation's and incidents' admins
  (TeamScopedAdmin, ParentScopedAdmin, ParentScopedInline, TeamScopedForm, is_active_staff).
- times: local-time fields and forms, and the zone a schedule's page is handled in
  (SchedulePage, LocalTimes, LayerLocalTimes, LayerTimesForm, UntouchedInstants).
- forms: the people of the schedule's team (TeamMemberForm, OverrideForm, ParticipantForm,
  RotationPeopleForm, TeamPeopleInline), and the schedule's own form (ScheduleForm).
- gaps: the warning after a save that nobody will be on call (warn_about_gaps).
- schedules: ScheduleAdmin, its list and its inlines (RotationInline, OverrideInline), and its
  timeline.
- parts: what the pages of a schedule's parts share (ScheduleChildAdmin, requested_schedule).
- layers: RotationAdmin, with its participants and restrictions inline.
- overrides: OverrideAdmin ("take this shift").
- people: TeamAdmin, WatchstanderUserAdmin and PersonSettingsAdmin.

Django's autodiscover imports this package; the registrations are here.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model

from schedules.admin.layers import RotationAdmin
from schedules.admin.overrides import OverrideAdmin
from schedules.admin.people import PersonSettingsAdmin, TeamAdmin, WatchstanderUserAdmin
from schedules.admin.schedules import ScheduleAdmin
from schedules.models import Override, PersonSettings, Rotation, Schedule, Team

admin.site.register(Team, TeamAdmin)
admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), WatchstanderUserAdmin)
admin.site.register(Schedule, ScheduleAdmin)
admin.site.register(Rotation, RotationAdmin)
admin.site.register(Override, OverrideAdmin)
admin.site.register(PersonSettings, PersonSettingsAdmin)
