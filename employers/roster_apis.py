"""The roster API of an employer, for its benefits admins and staff: list (filter, search,
paginate), add, read, update, terminate, and the history of changes. No DELETE: an entry is
ended by a termination and its history is kept.

Every route looks the employer up in the caller's scope first (another employer's roster is a
404, like a missing one), then the entry within that employer."""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import AllowedRoles
from config import clock
from config.json_input import JSONInputSerializer
from config.query_params import query_params_read
from employers.apis import EMPLOYER_READERS, EmployerNestedMixin, caller
from employers.models import RosterChange, RosterChangeKind, RosterEntry
from employers.roster import (
    UPDATABLE_FIELDS,
    RosterEntryInput,
    roster_entry_add,
    roster_entry_terminate,
    roster_entry_update,
)
from employers.selectors import (
    ROSTER_ORDERINGS,
    RosterStatus,
    roster_changes_filtered,
    roster_entries_filtered,
    roster_entry_status,
)
from idempotency.api import IdempotentMutationsMixin

ROSTER_EDITORS: AllowedRoles = EMPLOYER_READERS  # the employer's admins and staff


# --- serializers -------------------------------------------------------------------------------


class RosterEntryOutputSerializer(serializers.ModelSerializer[RosterEntry]):
    status = serializers.SerializerMethodField(
        help_text="As of today: active (eligible), terminated (ended), future (not started)."
    )

    class Meta:
        model = RosterEntry
        fields = (
            "id",
            "external_id",
            "full_name",
            "work_email",
            "date_of_birth",
            "eligible_from",
            "eligible_until",
            "status",
            "created_at",
            "updated_at",
        )
        extra_kwargs: ClassVar[dict[str, Any]] = {
            "eligible_until": {"help_text": "The last eligible day (inclusive); null: open."}
        }

    def get_status(self, entry: RosterEntry) -> RosterStatus:
        return roster_entry_status(entry=entry, on=clock.today())


class RosterEntryInputSerializer(JSONInputSerializer):
    external_id = serializers.CharField(max_length=64, help_text="The employer's employee id.")
    full_name = serializers.CharField(max_length=200)
    work_email = serializers.EmailField()
    date_of_birth = serializers.DateField()
    eligible_from = serializers.DateField()
    eligible_until = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Last eligible day, inclusive."
    )


class RosterEntryUpdateInputSerializer(JSONInputSerializer):
    full_name = serializers.CharField(max_length=200, required=False)
    work_email = serializers.EmailField(required=False)
    date_of_birth = serializers.DateField(required=False)
    eligible_from = serializers.DateField(required=False)
    eligible_until = serializers.DateField(
        required=False, allow_null=True, help_text="Last eligible day, inclusive; null: open."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(UPDATABLE_FIELDS)
        if unknown:
            raise serializers.ValidationError(
                dict.fromkeys(sorted(unknown), "This field cannot be changed.")
            )
        return attrs


class RosterTerminateInputSerializer(JSONInputSerializer):
    effective_date = serializers.DateField(
        help_text="The last day the employee is eligible (covered); becomes eligible_until."
    )


class RosterListQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=[s.value for s in RosterStatus], required=False, help_text="As of today."
    )
    eligible_on = serializers.DateField(required=False, help_text="Entries eligible that day.")
    q = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Search: name or work email containing it, or external id starting with it.",
    )
    ordering = serializers.ChoiceField(
        choices=[*ROSTER_ORDERINGS, *(f"-{field}" for field in ROSTER_ORDERINGS)],
        required=False,
        default="full_name",
    )


class RosterChangeOutputSerializer(serializers.ModelSerializer[RosterChange]):
    entry = serializers.IntegerField(source="entry_id")
    kind = serializers.ChoiceField(choices=RosterChangeKind.choices)
    actor = serializers.SerializerMethodField(
        help_text="Who made the change: an admin or staff user id; null for the system and for "
        "the employee themself (enrolling), whose account is theirs."
    )
    actor_email = serializers.SerializerMethodField(help_text="The email of `actor`.")
    roster_import = serializers.IntegerField(source="roster_import_id", allow_null=True)
    changes = serializers.DictField(
        child=serializers.ListField(),
        help_text="Field → [before, after] (dates as YYYY-MM-DD; null when absent).",
    )

    class Meta:
        model = RosterChange
        fields = (
            "id",
            "entry",
            "kind",
            "actor",
            "actor_email",
            "roster_import",
            "changes",
            "created_at",
        )

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_actor(self, change: RosterChange) -> int | None:
        return change.actor_id if self._actor_shown(change) else None

    @extend_schema_field(serializers.EmailField(allow_null=True))
    def get_actor_email(self, change: RosterChange) -> str | None:
        return (
            change.actor.email if change.actor is not None and self._actor_shown(change) else None
        )

    @staticmethod
    def _actor_shown(change: RosterChange) -> bool:
        return bool(getattr(change, "actor_is_staff_or_admin", False))


class RosterHistoryQuerySerializer(serializers.Serializer[Any]):
    entry = serializers.IntegerField(required=False, min_value=1)
    kind = serializers.ChoiceField(choices=RosterChangeKind.choices, required=False)
    date_from = serializers.DateField(required=False, help_text="From this day (inclusive).")
    date_to = serializers.DateField(required=False, help_text="Through this day (inclusive).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "date_from" in attrs and "date_to" in attrs and attrs["date_to"] < attrs["date_from"]:
            raise serializers.ValidationError({"date_to": "date_to is before date_from."})
        return attrs


# --- views -------------------------------------------------------------------------------------


class RosterEntryListApi(
    IdempotentMutationsMixin,
    EmployerNestedMixin,
    generics.ListAPIView,  # type: ignore[type-arg]
):
    allowed_roles: ClassVar[AllowedRoles] = ROSTER_EDITORS
    queryset = RosterEntry.objects.all()
    serializer_class = RosterEntryOutputSerializer
    idempotent_methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"GET": ("400",), "POST": ("409",)}

    def base_queryset(self) -> Any:
        query = RosterListQuerySerializer(data=query_params_read(self.request))
        query.is_valid(raise_exception=True)
        given = query.validated_data
        status_given = given.get("status")
        return roster_entries_filtered(
            employer=self.employer,
            status=RosterStatus(status_given) if status_given else None,
            eligible_on=given.get("eligible_on"),
            q=given.get("q", ""),
            ordering=given["ordering"],
        )

    @extend_schema(parameters=[RosterListQuerySerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The employer's roster, paginated (limit/offset), ordered by name unless `ordering`
        says otherwise."""
        return super().get(request, *args, **kwargs)

    @extend_schema(request=RosterEntryInputSerializer, responses={201: RosterEntryOutputSerializer})
    def post(self, request: Request, employer_id: int) -> Response:
        """Add an eligible employee. The same external id or work email (any letter case)
        twice in one employer is a 409 naming the field in `details.field`."""
        employer = self.employer
        payload = RosterEntryInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        entry = roster_entry_add(
            employer=employer,
            data=RosterEntryInput(**payload.validated_data),
            actor=caller(request),
        )
        return Response(RosterEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED)


class RosterEntryScopedApi(EmployerNestedMixin):
    """Routes of one entry: /employers/{employer_id}/roster/{entry_id}/…"""

    allowed_roles: ClassVar[AllowedRoles] = ROSTER_EDITORS
    queryset = RosterEntry.objects.all()
    lookup_url_kwarg = "entry_id"

    def base_queryset(self) -> Any:
        return RosterEntry.objects.filter(employer=self.employer)


class RosterEntryDetailApi(RosterEntryScopedApi, generics.RetrieveAPIView):  # type: ignore[type-arg]
    serializer_class = RosterEntryOutputSerializer
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"PATCH": ("409",)}

    @extend_schema(
        request=RosterEntryUpdateInputSerializer, responses={200: RosterEntryOutputSerializer}
    )
    def patch(self, request: Request, employer_id: int, entry_id: int) -> Response:
        """Change the name, work email, date of birth or eligibility dates (the external id
        stays). Setting or moving eligible_until announces a termination, as the terminate
        route does."""
        entry = self.get_object()
        payload = RosterEntryUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        entry = roster_entry_update(
            entry=entry, changes=dict(payload.validated_data), actor=caller(request)
        )
        return Response(RosterEntryOutputSerializer(entry).data)


class RosterEntryTerminateApi(IdempotentMutationsMixin, RosterEntryScopedApi):
    idempotent_methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("409",)}

    @extend_schema(
        request=RosterTerminateInputSerializer, responses={200: RosterEntryOutputSerializer}
    )
    def post(self, request: Request, employer_id: int, entry_id: int) -> Response:
        """End the entry's eligibility: `effective_date` is the last eligible (covered) day.
        Before eligible_from: 400. If the entry already ended before today, a later date is a
        409 `already_terminated` (use PATCH to correct); otherwise the date replaces the end.
        The same date again changes nothing."""
        entry = self.get_object()
        payload = RosterTerminateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        entry = roster_entry_terminate(
            entry=entry,
            effective_date=payload.validated_data["effective_date"],
            actor=caller(request),
        )
        return Response(RosterEntryOutputSerializer(entry).data)


class RosterHistoryApi(EmployerNestedMixin, generics.ListAPIView):  # type: ignore[type-arg]
    allowed_roles: ClassVar[AllowedRoles] = ROSTER_EDITORS
    queryset = RosterChange.objects.all()
    serializer_class = RosterChangeOutputSerializer
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"GET": ("400",)}

    def base_queryset(self) -> Any:
        query = RosterHistoryQuerySerializer(data=query_params_read(self.request))
        query.is_valid(raise_exception=True)
        given = query.validated_data
        return roster_changes_filtered(
            employer=self.employer,
            entry_id=given.get("entry"),
            kind=given.get("kind"),
            date_from=given.get("date_from"),
            date_to=given.get("date_to"),
        )

    @extend_schema(parameters=[RosterHistoryQuerySerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The employer's roster history (who changed what, when), newest first, paginated."""
        return super().get(request, *args, **kwargs)


class RosterEntryHistoryApi(EmployerNestedMixin, generics.ListAPIView):  # type: ignore[type-arg]
    allowed_roles: ClassVar[AllowedRoles] = ROSTER_EDITORS
    queryset = RosterChange.objects.all()
    serializer_class = RosterChangeOutputSerializer

    def base_queryset(self) -> Any:
        return roster_changes_filtered(employer=self.employer, entry_id=self.kwargs["entry_id"])

    @extend_schema(operation_id="api_v1_employers_roster_entry_history_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One entry's history, newest first, paginated."""
        if not RosterEntry.objects.filter(
            employer=self.employer, pk=self.kwargs["entry_id"]
        ).exists():
            raise Http404
        return super().get(request, *args, **kwargs)
