"""The pages behind ``hosted_invoice_url``, ``invoice_pdf`` and a credit note's ``pdf``.

Stripe hosts a payment page and a PDF for every finalized invoice. The emulator serves a plain
HTML summary at ``/i/<invoice id>`` and a one-page PDF at ``/i/<invoice id>/pdf`` and
``/credit_notes/<credit note id>/pdf``, so that links in e-mails and the API resolve locally.
"""

from __future__ import annotations

import html
from typing import Any

from stripe_emulator.errors import amount_text


def invoice_summary(invoice: dict[str, Any]) -> list[str]:
    currency = invoice["currency"]
    lines = [
        f"Invoice {invoice['number'] or invoice['id']}",
        f"Status: {invoice['status']}",
        f"Customer: {invoice['customer_name'] or invoice['customer']}",
        "",
    ]
    for line in invoice["lines"]["data"]:
        lines.append(f"{line['description'] or 'Item'}: {amount_text(line['amount'], currency)}")
    lines += [
        "",
        f"Total: {amount_text(invoice['total'], currency)}",
        f"Amount due: {amount_text(invoice['amount_due'], currency)}",
        f"Amount paid: {amount_text(invoice['amount_paid'], currency)}",
        f"Amount remaining: {amount_text(invoice['amount_remaining'], currency)}",
    ]
    return lines


def credit_note_summary(note: dict[str, Any]) -> list[str]:
    currency = note["currency"]
    lines = [f"Credit note {note['number']}", f"Invoice: {note['invoice']}", ""]
    for line in note["lines"]["data"]:
        lines.append(f"{line['description'] or 'Credit'}: {amount_text(line['amount'], currency)}")
    lines += ["", f"Total credited: {amount_text(note['total'], currency)}"]
    return lines


def html_page(title: str, lines: list[str]) -> bytes:
    body = "\n".join(f"<p>{html.escape(line)}</p>" if line else "<hr>" for line in lines)
    page = (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n<p><em>Stripe emulator</em></p>\n{body}\n"
        "</body></html>\n"
    )
    return page.encode()


def pdf_document(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF showing ``lines`` in Helvetica."""

    def text(line: str) -> str:
        latin = line.encode("latin-1", "replace").decode("latin-1")
        return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 11 Tf 50 790 Td 16 TL " + " ".join(f"({text(line)}) '" for line in lines)
    content += " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content.encode('latin-1'))} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    document = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(document))
        document += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref_at = len(document)
    document += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        document += f"{offset:010d} 00000 n \n".encode()
    document += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return document
