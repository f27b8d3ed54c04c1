"""Idempotency keys for unsafe API requests (DESIGN.md §7), modelled on Stripe's.

How it works
------------
A view opts in with `idempotency.api.IdempotentMutationsMixin`. A client may then send
`Idempotency-Key: <key>` on its POST, PUT, PATCH and DELETE requests to retry them safely:

- The key is 1 to 255 printable ASCII characters, not starting or ending with a space; anything
  else is a 400 `invalid_idempotency_key`. Without the header nothing changes.
- A key is scoped to the caller (the authenticated user; all anonymous callers, e.g. sign-up,
  share one anonymous namespace) plus the method and path. It means nothing in another scope.
- After authentication, permission checks, throttling and body parsing (their 4xx answers are
  not stored), and before the view runs, the key is claimed: a record "in progress" is
  committed in its own transaction with the request's fingerprint, an HMAC-SHA-256 of
  method, path, query and the canonical body (JSON re-serialised with sorted keys). The body
  itself is never stored, so passwords in it are not either.
- The view runs. If it answers below 500 (2xx, and 4xx such as the services' DomainErrors),
  its status, rendered body and a few allow-listed headers (Content-Type, Location, ETag, …;
  never cookies) are stored on the record. A 5xx or an exception stores nothing and deletes
  the record, so a retry with the same key runs the view again.
- The same key and fingerprint again replays the stored answer byte for byte, with the header
  `Idempotent-Replayed: true`; the view does not run. The stored answer is exactly what the
  first caller got, and goes only to the same scope and fingerprint (for anonymous callers
  that means the same body, password included).
- The same key with another fingerprint (other body, query, or parameters): 422
  `idempotency_key_reused`.
- The same key while the first request is still running: 409 `idempotency_key_in_use`; retry
  later. The database decides (a unique constraint on the scope and key, insert or fail), so
  this holds across threads, processes and machines.
- Records expire `IDEMPOTENCY_KEY_TTL_HOURS` (default 24) after the first request; an expired
  record counts as absent (the key is new again). `python manage.py idempotency_purge` and an
  hourly Celery beat task delete expired records.
- A request whose process dies mid-view (killed worker) leaves its key in progress until it
  expires: nobody can tell whether its work was done, so retries get 409 and the client should
  check the state and use a new key. An operator can delete the record in the Django admin.
- Views whose answers hold credentials (a login token) should not opt in: the stored answer
  would keep the credential in the database until the record expires.
"""
