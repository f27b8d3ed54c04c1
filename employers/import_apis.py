"""Roster CSV imports for employer admins (their employer only) and operator admins: upload,
progress and preview (errors, rows by action, entries a replacement would end), confirmation,
list. Every route looks the employer up through the caller's scope first, so another employer's
routes are all 404, like a missing employer. See employers/imports.py for the file format and
the flow."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.db.models import JSONField, QuerySet
from django.db.models.expressions import RawSQL
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.scoped_views import ScopedAPIView
from accounts.models import Role, User
from accounts.permissions import AllowedRoles
from config import clock
from config.json_input import JSONInputSerializer
from config.parsers import content_length_declared
from config.query_params import query_params_read
from employers.imports import (
    COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    RosterFileTooLargeError,
    roster_import_confirm,
    roster_import_create,
    roster_import_errors,
    roster_import_rows,
    roster_import_terminated,
    roster_import_terminations,
)
from employers.models import (
    Employer,
    RosterEntry,
    RosterImport,
    RosterImportAction,
    RosterImportRow,
    RosterImportStatus,
)
from idempotency.api import IdempotentMutationsMixin

ROSTER_IMPORTERS: AllowedRoles = frozenset({Role.EMPLOYER_ADMIN, Role.OPERATOR_ADMIN})
FIRST_ERRORS = 100  # errors shown with an import; the rest through …/errors/
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # the form around the file: boundaries, headers, `replace`

# --- serializers -------------------------------------------------------------------------------


class RosterImportUploadSerializer(JSONInputSerializer):
    file = serializers.FileField(
        help_text=(
            "The roster as CSV, UTF-8 (with or without BOM). First line: the header "
            + ",".join(COLUMNS)
            + " (any order). Dates YYYY-MM-DD; an empty eligible_until means open-ended "
            f"(it is the last eligible day, inclusive). At most {MAX_ROWS} rows and "
            f"{MAX_FILE_BYTES // (1024 * 1024)} MB."
        )
    )
    replace = serializers.BooleanField(
        default=False,
        help_text="A full replacement: entries missing from the file are terminated on apply.",
    )


class RosterImportErrorSerializer(serializers.Serializer[Any]):
    line = serializers.IntegerField(help_text="Physical line of the file; the header is line 1.")
    field = serializers.CharField(help_text="A column name, or `row` for a malformed row.")
    message = serializers.CharField()
    external_id = serializers.CharField(
        help_text="The row's external id when it is well-formed, else empty."
    )


class RosterImportOutputSerializer(serializers.ModelSerializer[RosterImport]):
    employer_id = serializers.IntegerField()
    uploaded_by_id = serializers.IntegerField(allow_null=True)
    confirmed_by_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = RosterImport
        fields: tuple[str, ...] = (
            "id",
            "employer_id",
            "file_name",
            "file_sha256",
            "replace",
            "status",
            "failure",
            "total_rows",
            "processed_rows",
            "error_count",
            "to_add",
            "to_update",
            "unchanged",
            "to_terminate",
            "valid_rows_only",
            "uploaded_by_id",
            "confirmed_by_id",
            "created_at",
            "validated_at",
            "applied_at",
        )
        extra_kwargs: ClassVar[dict[str, Any]] = {
            "processed_rows": {"help_text": "Rows read so far (grows while validating)."},
            "to_add": {"help_text": "Preview: rows that add an entry; once applied, added."},
            "to_update": {
                "help_text": "Preview: rows that change an entry; once applied, changed."
            },
            "to_terminate": {"help_text": "Full replacement: entries ended (or to be)."},
            "error_count": {"help_text": "Every error of the file (see …/errors/)."},
        }


class RosterImportDetailOutputSerializer(RosterImportOutputSerializer):
    first_errors = serializers.SerializerMethodField()

    class Meta(RosterImportOutputSerializer.Meta):
        fields = (*RosterImportOutputSerializer.Meta.fields, "first_errors")

    @extend_schema_field(RosterImportErrorSerializer(many=True))
    def get_first_errors(self, roster_import: RosterImport) -> Any:
        errors = getattr(roster_import, "first_errors", None)
        if errors is None:  # not annotated: read them
            errors = roster_import_errors(roster_import=roster_import)[:FIRST_ERRORS]
        return errors


class RosterImportRowOutputSerializer(serializers.ModelSerializer[RosterImportRow]):
    entry_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = RosterImportRow
        fields = (
            "line",
            "external_id",
            "full_name",
            "work_email",
            "date_of_birth",
            "eligible_from",
            "eligible_until",
            "action",
            "entry_id",
        )


class RosterImportRowFilterSerializer(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=RosterImportAction.choices, required=False)


class RosterImportTerminationSerializer(serializers.ModelSerializer[RosterEntry]):
    last_eligible_day = serializers.SerializerMethodField()

    class Meta:
        model = RosterEntry
        fields = (
            "id",
            "external_id",
            "full_name",
            "work_email",
            "eligible_from",
            "eligible_until",
            "last_eligible_day",
        )

    @extend_schema_field(serializers.DateField())
    def get_last_eligible_day(self, entry: RosterEntry) -> Any:
        """Applied: the day set; in preview: the day it would get if applied today."""
        if self.context.get("applied"):
            return entry.eligible_until
        return max(self.context["today"], entry.eligible_from)


class RosterImportConfirmSerializer(JSONInputSerializer):
    valid_rows_only = serializers.BooleanField(
        default=False,
        help_text="Apply the valid rows and skip the rows with errors. Without it, a file with "
        "errors is refused (409).",
    )


# --- views ---------------------------------------------------------------------------------------


def _caller(request: Request) -> User:
    return cast(User, request.user)  # RolePermission let only authenticated callers in


class RosterImportScopedApi(ScopedAPIView):
    allowed_roles: ClassVar[AllowedRoles] = ROSTER_IMPORTERS
    queryset = RosterImport.objects.defer("content", "errors")

    def base_queryset(self) -> Any:
        return self.queryset.filter(employer_id=self.kwargs["employer_id"]).order_by(
            "-created_at", "-id"
        )

    def employer(self) -> Employer:
        """The employer of the route, through the caller's scope (404 when not theirs)."""
        visible = Employer.objects.visible_to(self.access)
        return get_object_or_404(visible, pk=self.kwargs["employer_id"])

    def detail(self, roster_import: RosterImport, *, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.annotated(self.base_queryset()).get(pk=roster_import.pk)
        return Response(RosterImportDetailOutputSerializer(fresh).data, status=code)

    @staticmethod
    def annotated(queryset: QuerySet[RosterImport]) -> QuerySet[RosterImport]:
        return queryset.annotate(
            first_errors=RawSQL(
                "jsonb_path_query_array(employers_rosterimport.errors, %s::jsonpath)",
                (f"$[0 to {FIRST_ERRORS - 1}]",),
                output_field=JSONField(),
            )
        )


class RosterImportListApi(IdempotentMutationsMixin, RosterImportScopedApi, generics.ListAPIView):  # type: ignore[type-arg]
    """The employer's roster imports, newest first; POST uploads a new one."""

    serializer_class = RosterImportOutputSerializer
    parser_classes = (MultiPartParser,)
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("413",)}

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.employer()
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": RosterImportUploadSerializer},
        responses={202: RosterImportDetailOutputSerializer},
    )
    def post(self, request: Request, employer_id: int) -> Response:
        """Upload a roster file (multipart `file`, optional `replace`). 202: stored and queued
        for validation; follow `status` and `processed_rows` on the import. A file that cannot
        be read as a roster CSV is a 400 (`invalid_file`), one too large a 413
        (`file_too_large`)."""
        employer = self.employer()
        declared = content_length_declared(meta=request.META) or 0
        if declared > MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES:  # refused before reading it
            raise RosterFileTooLargeError(
                f"The upload has {declared} bytes; an import takes at most {MAX_FILE_BYTES}.",
                details={"max_bytes": MAX_FILE_BYTES},
            )
        upload = request.FILES.get("file")
        if upload is not None and upload.size is not None and upload.size > MAX_FILE_BYTES:
            raise RosterFileTooLargeError(
                f"The file has {upload.size} bytes; an import takes at most {MAX_FILE_BYTES}.",
                details={"max_bytes": MAX_FILE_BYTES},
            )
        payload = RosterImportUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        file = payload.validated_data["file"]
        created = roster_import_create(
            employer=employer,
            uploaded_by=_caller(request),
            file_name=file.name or "",
            content=file.read(),
            replace=payload.validated_data["replace"],
        )
        return self.detail(created, code=status.HTTP_202_ACCEPTED)


class RosterImportDetailApi(RosterImportScopedApi, generics.RetrieveAPIView):  # type: ignore[type-arg]
    """One import: status, progress, counts and its first errors."""

    serializer_class = RosterImportDetailOutputSerializer

    def base_queryset(self) -> Any:
        return self.annotated(super().base_queryset())


class RosterImportErrorsApi(RosterImportScopedApi):
    @extend_schema(responses=RosterImportErrorSerializer(many=True))
    def get(self, request: Request, employer_id: int, pk: int) -> Response:
        """Every error of the file, by line, paginated."""
        errors = roster_import_errors(roster_import=self.get_object())
        page = self.paginate_queryset(errors)
        return self.get_paginated_response(RosterImportErrorSerializer(page, many=True).data)


class RosterImportRowsApi(RosterImportScopedApi):
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"GET": ("400",)}

    @extend_schema(
        parameters=[RosterImportRowFilterSerializer],
        responses=RosterImportRowOutputSerializer(many=True),
    )
    def get(self, request: Request, employer_id: int, pk: int) -> Response:
        """The file's valid rows by line, with what applying each does (or did): add, update
        or unchanged; `?action=` keeps one kind."""
        roster_import = self.get_object()
        query = RosterImportRowFilterSerializer(data=query_params_read(request))
        query.is_valid(raise_exception=True)
        action = query.validated_data.get("action")
        rows = roster_import_rows(
            roster_import=roster_import,
            action=RosterImportAction(action) if action else None,
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(RosterImportRowOutputSerializer(page, many=True).data)


class RosterImportTerminationsApi(RosterImportScopedApi):
    @extend_schema(responses=RosterImportTerminationSerializer(many=True))
    def get(self, request: Request, employer_id: int, pk: int) -> Response:
        """A full replacement's terminations: before it is applied, the entries it would end
        (if applied today) and `last_eligible_day` they would get; once applied, those it
        ended. Empty for an import that is not a replacement."""
        roster_import = self.get_object()
        applied = roster_import.status == RosterImportStatus.APPLIED
        today = clock.today()
        if not roster_import.replace:
            entries: QuerySet[RosterEntry] = RosterEntry.objects.none()
        elif applied:
            entries = roster_import_terminated(roster_import=roster_import)
        else:
            entries = roster_import_terminations(roster_import=roster_import, last_day=today)
        page = self.paginate_queryset(entries.order_by("external_id", "id"))
        context = {"applied": applied, "today": today}
        data = RosterImportTerminationSerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)


class RosterImportConfirmApi(IdempotentMutationsMixin, RosterImportScopedApi):
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"POST": ("409",)}

    @extend_schema(
        request=RosterImportConfirmSerializer,
        responses={202: RosterImportDetailOutputSerializer},
    )
    def post(self, request: Request, employer_id: int, pk: int) -> Response:
        """Apply a previewed import (202: queued; `status` goes applying → applied). 409 unless
        it is in preview, and when the file has errors unless `valid_rows_only` (the error
        carries `error_count`)."""
        roster_import = self.get_object()
        payload = RosterImportConfirmSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        confirmed = roster_import_confirm(
            roster_import=roster_import,
            actor=_caller(request),
            valid_rows_only=payload.validated_data["valid_rows_only"],
        )
        return self.detail(confirmed, code=status.HTTP_202_ACCEPTED)
