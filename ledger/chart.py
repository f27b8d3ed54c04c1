"""The chart of accounts. Accounts are rows made on first use from this table (partner payables
one per partner), so a new partner needs no migration."""

from __future__ import annotations

from ledger.models import Account, AccountType
from partners.models import Partner

CASH_STRIPE = "cash:stripe"  # the Stripe balance: card payments in, refunds out
CASH_OPERATING = "cash:operating"  # the operator's bank account: partner payouts
RECEIVABLE_MEMBER = "receivable:member"
RECEIVABLE_EMPLOYER = "receivable:employer"
DISPUTED_FUNDS = "disputed_funds"  # held by Stripe while a dispute is open
DEFERRED_REVENUE = "deferred_revenue"
MEMBERSHIP_REVENUE = "revenue:membership"
REFUNDS_CREDITS = "refunds_credits"  # contra-revenue: refunds, credit lines, lost disputes
STRIPE_FEES = "expense:stripe_fees"
BAD_DEBT = "expense:bad_debt"
REVENUE_SHARE = "expense:revenue_share"  # partners' share, accrued when a statement is approved

CHART: dict[str, tuple[str, AccountType]] = {
    CASH_STRIPE: ("Stripe balance", AccountType.ASSET),
    CASH_OPERATING: ("Operating bank account", AccountType.ASSET),
    RECEIVABLE_MEMBER: ("Receivables from members", AccountType.ASSET),
    RECEIVABLE_EMPLOYER: ("Receivables from employers", AccountType.ASSET),
    DISPUTED_FUNDS: ("Funds held in disputes", AccountType.ASSET),
    DEFERRED_REVENUE: ("Deferred membership revenue", AccountType.LIABILITY),
    MEMBERSHIP_REVENUE: ("Membership revenue", AccountType.REVENUE),
    REFUNDS_CREDITS: ("Refunds and credits", AccountType.CONTRA_REVENUE),
    STRIPE_FEES: ("Stripe fees", AccountType.EXPENSE),
    BAD_DEBT: ("Bad debt", AccountType.EXPENSE),
    REVENUE_SHARE: ("Partner revenue share", AccountType.EXPENSE),
}


def account_get(code: str) -> Account:
    """The account of the chart with this code (made on first use)."""
    name, account_type = CHART[code]
    account, _ = Account.objects.get_or_create(
        code=code, defaults={"name": name, "type": account_type}
    )
    return account


def partner_payable_account(partner: Partner | int) -> Account:
    """What the operator owes one partner (made on first use)."""
    partner_id = partner if isinstance(partner, int) else partner.pk
    account, _ = Account.objects.get_or_create(
        code=f"payable:partner:{partner_id}",
        defaults={
            "name": f"Payable to partner #{partner_id}",
            "type": AccountType.LIABILITY,
            "partner_id": partner_id,
        },
    )
    return account
