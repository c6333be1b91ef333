"""Schemathesis hooks for `scripts/fuzz`: what the document cannot say.

A schema-valid request can still be refused for a reason that depends on the ledger's
state, not on the request's shape. Those refusals are the contract, not a mismatch:
a cursor this server never issued (400 invalid_cursor), an If-Match that is not the
record's version (412 version_mismatch), a parent VTID that does not exist
(422 parent_not_found). Every other refusal of schema-valid data stays a failure.
"""

import schemathesis

STATE_DEPENDENT = {
    (400, "invalid_cursor"),
    (412, "version_mismatch"),
    (422, "parent_not_found"),
}


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    if failure.code != "ST202":
        return True
    try:
        code = response.json().get("code")
    except Exception:
        return True
    return (response.status_code, code) not in STATE_DEPENDENT
