"""The finance ledger, read-only: account balances as of a day, and journal entries with their
postings. Finance staff and operator admins only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.scoped_views import ScopedAPIView
from accounts.permissions import STAFF_ROLES, AllowedRoles
from config import clock
from config.query_params import query_params_read
from ledger.models import Account, AccountType, FinanceOnlyQuerySet, JournalEntry, Posting
from ledger.selectors import (
    LEDGER_CURRENCY,
    account_balances_as_of,
    journal_entries_filtered,
    journal_entries_with_postings,
)

if TYPE_CHECKING:
    from ledger.selectors import AccountWithBalance

LEDGER_READERS: AllowedRoles = STAFF_ROLES


# --- accounts and their balances ---------------------------------------------------------------


class AccountBalanceQuerySerializer(serializers.Serializer[Any]):
    as_of = serializers.DateField(
        required=False,
        help_text="Balances at the end of this day (YYYY-MM-DD). Default: today.",
    )


class AccountBalanceOutputSerializer(serializers.ModelSerializer[Account]):
    type = serializers.ChoiceField(choices=AccountType.choices, read_only=True)
    partner = serializers.IntegerField(source="partner_id", allow_null=True, read_only=True)
    balance_cents = serializers.IntegerField(
        read_only=True, help_text="Sum of the postings: debits positive, credits negative."
    )
    normal_balance_cents = serializers.IntegerField(
        read_only=True,
        help_text="The balance as finance reads it: turned round for liability and revenue "
        "accounts, so that each account's usual figure is positive.",
    )
    currency = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = (
            "id",
            "code",
            "name",
            "type",
            "partner",
            "balance_cents",
            "normal_balance_cents",
            "currency",
        )

    def get_currency(self, account: Account) -> str:
        return LEDGER_CURRENCY


class AccountBalanceListApi(ScopedAPIView, generics.ListAPIView):  # type: ignore[type-arg]
    """Every account of the chart with its balance at the end of `as_of` (a trial balance:
    the balances add up to zero). Not paginated: the chart is a few accounts plus one payable
    per partner, and a trial balance is read whole."""

    allowed_roles: ClassVar[AllowedRoles] = LEDGER_READERS
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"GET": ("400",)}
    queryset = Account.objects.all()
    serializer_class = AccountBalanceOutputSerializer
    pagination_class = None

    def base_queryset(self) -> FinanceOnlyQuerySet[AccountWithBalance]:
        query = AccountBalanceQuerySerializer(data=query_params_read(self.request))
        query.is_valid(raise_exception=True)
        return account_balances_as_of(as_of=query.validated_data.get("as_of") or clock.today())

    @extend_schema(parameters=[AccountBalanceQuerySerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# --- journal entries ---------------------------------------------------------------------------


class PostingOutputSerializer(serializers.ModelSerializer[Posting]):
    account = serializers.CharField(source="account.code", read_only=True, help_text="Its code.")
    partner = serializers.IntegerField(source="partner_id", allow_null=True, read_only=True)
    market = serializers.IntegerField(source="market_id", allow_null=True, read_only=True)
    membership = serializers.IntegerField(source="membership_id", allow_null=True, read_only=True)
    invoice_line = serializers.IntegerField(
        source="invoice_line_id", allow_null=True, read_only=True
    )

    class Meta:
        model = Posting
        fields = (
            "id",
            "account",
            "amount_cents",
            "currency",
            "partner",
            "market",
            "membership",
            "invoice_line",
        )


class JournalEntryOutputSerializer(serializers.ModelSerializer[JournalEntry]):
    reverses = serializers.IntegerField(source="reverses_id", allow_null=True, read_only=True)
    postings = PostingOutputSerializer(many=True, read_only=True)

    class Meta:
        model = JournalEntry
        fields = (
            "id",
            "idempotency_key",
            "kind",
            "occurred_on",
            "memo",
            "reverses",
            "created_at",
            "postings",
        )


class JournalEntryQuerySerializer(serializers.Serializer[Any]):
    """The filters of the entry list. `from` and `to` are Python keywords, so they are added
    in `get_fields()`."""

    account = serializers.CharField(
        required=False, max_length=64, help_text="An account code: entries posting to it."
    )
    partner = serializers.IntegerField(
        required=False, min_value=1, help_text="Entries with a posting for this partner."
    )
    market = serializers.IntegerField(
        required=False, min_value=1, help_text="Entries with a posting in this market."
    )
    membership = serializers.IntegerField(
        required=False, min_value=1, help_text="Entries with a posting for this membership."
    )
    invoice_line = serializers.IntegerField(
        required=False, min_value=1, help_text="Entries with a posting for this invoice line."
    )
    kind = serializers.CharField(
        required=False, max_length=32, help_text="e.g. invoice_finalized, payment, recognition."
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, help_text="Entries on or after this day (YYYY-MM-DD)."
        )
        fields["to"] = serializers.DateField(
            required=False, help_text="Entries on or before this day (YYYY-MM-DD)."
        )
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"to": "Must not be before `from`."})
        return attrs


class JournalEntryListApi(ScopedAPIView, generics.ListAPIView):  # type: ignore[type-arg]
    """Journal entries with their postings, newest first (by accounting date, then id).
    The posting filters (account, partner, market, membership, invoice_line) select entries
    having one posting that meets all of those given."""

    allowed_roles: ClassVar[AllowedRoles] = LEDGER_READERS
    error_responses: ClassVar[dict[str, tuple[str, ...]]] = {"GET": ("400",)}
    queryset = JournalEntry.objects.all()
    serializer_class = JournalEntryOutputSerializer

    def base_queryset(self) -> FinanceOnlyQuerySet[JournalEntry]:
        query = JournalEntryQuerySerializer(data=query_params_read(self.request))
        query.is_valid(raise_exception=True)
        given = query.validated_data
        return journal_entries_filtered(
            account_code=given.get("account"),
            partner_id=given.get("partner"),
            market_id=given.get("market"),
            membership_id=given.get("membership"),
            invoice_line_id=given.get("invoice_line"),
            kind=given.get("kind"),
            occurred_from=given.get("from"),
            occurred_to=given.get("to"),
        )

    @extend_schema(parameters=[JournalEntryQuerySerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class JournalEntryDetailApi(ScopedAPIView, generics.RetrieveAPIView):  # type: ignore[type-arg]
    """One journal entry with its postings."""

    allowed_roles: ClassVar[AllowedRoles] = LEDGER_READERS
    queryset = JournalEntry.objects.all()
    serializer_class = JournalEntryOutputSerializer

    def base_queryset(self) -> FinanceOnlyQuerySet[JournalEntry]:
        return journal_entries_with_postings()
