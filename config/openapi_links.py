"""OpenAPI links: which operation's response gives the ids another operation takes (a created
roster entry → read, change, terminate it; a refund → its invoice; a list → its items). They
document how the API is walked, and the stateful schema fuzzer (tests/fuzz) follows them.
Added by a drf-spectacular postprocessing hook, which skips a link whose source or target is
not in the schema being generated (a schema of part of the URLs); tests/fuzz/test_openapi_links.py
checks that every link is published in the full schema, so the table cannot rot silently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

API = "/api/v1"
EMPLOYER = f"{API}/employers/{{id}}/"
CONTRACTS = f"{API}/employers/{{employer_id}}/contracts/"
ROSTER = f"{API}/employers/{{employer_id}}/roster/"
ENTRY = f"{ROSTER}{{entry_id}}/"
IMPORTS = f"{ROSTER}imports/"
IMPORT = f"{IMPORTS}{{id}}/"
INVOICE = f"{API}/invoices/{{id}}/"
STATEMENT = f"{API}/statements/{{id}}/"

CREATED_ID = "$response.body#/id"
FIRST_LISTED_ID = "$response.body#/results/0/id"


@dataclass(frozen=True)
class Link:
    name: str
    target_path: str
    target_method: str
    parameters: dict[str, str]
    description: str


def _entry_links(entry_id: str) -> list[Link]:
    ids = {"employer_id": "$request.path.employer_id", "entry_id": entry_id}
    return [
        Link("GetRosterEntry", ENTRY, "get", ids, "The roster entry."),
        Link("UpdateRosterEntry", ENTRY, "patch", ids, "Change the roster entry."),
        Link("RosterEntryHistory", f"{ENTRY}history/", "get", ids, "Its change history."),
        Link("TerminateRosterEntry", f"{ENTRY}terminate/", "post", ids, "End its eligibility."),
    ]


def _import_links() -> list[Link]:
    ids = {"employer_id": "$request.path.employer_id", "id": CREATED_ID}
    return [
        Link("GetRosterImport", IMPORT, "get", ids, "The import's progress and counts."),
        Link("ConfirmRosterImport", f"{IMPORT}confirm/", "post", ids, "Apply the import."),
        Link("RosterImportErrors", f"{IMPORT}errors/", "get", ids, "Rows that were refused."),
        Link("RosterImportRows", f"{IMPORT}rows/", "get", ids, "Valid rows and their action."),
        Link(
            "RosterImportTerminations",
            f"{IMPORT}terminations/",
            "get",
            ids,
            "Entries a replacing import ends.",
        ),
    ]


def _invoice_links(invoice_id: str) -> list[Link]:
    ids = {"id": invoice_id}
    return [
        Link("GetInvoice", INVOICE, "get", ids, "The invoice, with its refunds and credits."),
        Link("RefundInvoice", f"{INVOICE}refunds/", "post", ids, "Refund a paid invoice."),
        Link("CreditInvoice", f"{INVOICE}credit-notes/", "post", ids, "Credit an open invoice."),
    ]


def _statement_links(statement_id: str) -> list[Link]:
    ids = {"id": statement_id}
    return [
        Link("GetStatement", STATEMENT, "get", ids, "The statement with its lines."),
        Link("ApproveStatement", f"{STATEMENT}approve/", "post", ids, "Approve (lock) it."),
        Link("RecordPayout", f"{STATEMENT}payout/", "post", ids, "Record its payout."),
        Link("StatementCsv", f"{STATEMENT}export.csv", "get", ids, "Export as CSV."),
    ]


def _employer_links(employer_id: str) -> list[Link]:
    return [
        Link("GetEmployer", EMPLOYER, "get", {"id": employer_id}, "The employer."),
        Link("UpdateEmployer", EMPLOYER, "patch", {"id": employer_id}, "Change the employer."),
        Link(
            "CreateContract",
            CONTRACTS,
            "post",
            {"employer_id": employer_id},
            "Add a contract to it.",
        ),
        Link("AddRosterEntry", ROSTER, "post", {"employer_id": employer_id}, "Add an employee."),
        Link("ListRoster", ROSTER, "get", {"employer_id": employer_id}, "Its roster."),
    ]


# (path, method, status) of a response -> the links it carries
LINKS: dict[tuple[str, str, str], list[Link]] = {
    (f"{API}/employers/", "post", "201"): _employer_links(CREATED_ID),
    (f"{API}/employers/", "get", "200"): _employer_links(FIRST_LISTED_ID),
    (CONTRACTS, "post", "201"): [
        Link(
            "EndContract",
            f"{CONTRACTS}{{contract_id}}/end/",
            "post",
            {"employer_id": "$request.path.employer_id", "contract_id": CREATED_ID},
            "End the contract.",
        ),
        Link(
            "ListContracts",
            CONTRACTS,
            "get",
            {"employer_id": "$request.path.employer_id"},
            "The employer's contracts.",
        ),
    ],
    (ROSTER, "post", "201"): _entry_links(CREATED_ID),
    (ROSTER, "get", "200"): _entry_links(FIRST_LISTED_ID),
    (IMPORTS, "post", "202"): _import_links(),
    (f"{INVOICE}refunds/", "post", "201"): _invoice_links("$request.path.id")[:1],
    (f"{INVOICE}credit-notes/", "post", "201"): _invoice_links("$request.path.id")[:1],
    (f"{API}/invoices/", "get", "200"): _invoice_links(FIRST_LISTED_ID),
    (f"{STATEMENT}approve/", "post", "200"): _statement_links("$request.path.id")[2:3],
    (f"{API}/statements/", "get", "200"): _statement_links(FIRST_LISTED_ID),
}


def links_add(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: put LINKS into the schema's responses."""
    paths = result["paths"]
    for (path, method, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        published = {
            link.name: {
                "operationId": paths[link.target_path][link.target_method]["operationId"],
                "parameters": link.parameters,
                "description": link.description,
            }
            for link in links
            if link.target_method in paths.get(link.target_path, {})
        }
        if published:
            response["links"] = published
    return result
