"""API Gateway HTTP API (payload 2.0) events for lambda_emulator.py: two for each function
of the ledger (the first served to the cold process, the second warm), with the status
each answer must have."""

import json
import time
import uuid


def event(method, path, route, body=None, query=None, path_params=None, auth=True):
    """An API Gateway HTTP API payload 2.0 event, as the functions receive it."""
    query = query or {}
    raw_query = "&".join(f"{k}={v}" for k, v in query.items())
    context = {
        "accountId": "local",
        "apiId": "local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "requestId": str(uuid.uuid4()),
        "routeKey": route,
        "stage": "$default",
        "time": "01/Jan/2026:00:00:00 +0000",
        "timeEpoch": int(time.time() * 1000),
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "lambda-emulator",
        },
    }
    if auth:
        context["authorizer"] = {
            "jwt": {"claims": {"sub": "bench", "role": "service"}, "scopes": None}
        }
    e = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {"content-type": "application/json", "host": "localhost"},
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if query:
        e["queryStringParameters"] = query
    if path_params:
        e["pathParameters"] = path_params
    if body is not None:
        e["body"] = json.dumps(body)
    return e


def draft(n):
    return {
        "taskFamily": "bench",
        "taskType": "deploy",
        "description": f"cold start measurement {n}",
        "tenant": "acme",
    }


def events_for(binary, vtid, year):
    """Two events (cold, then warm) for `binary`, and the status each must answer."""
    p = {"vtid": vtid}
    rec = f"/vtid/{vtid}"
    table = {
        "vtid-create": lambda n: (event("POST", "/vtid/create", "POST /vtid/create", draft(n)), 201),
        "vtid-batch": lambda n: (
            event("POST", "/vtid/batch", "POST /vtid/batch", {"items": [draft(n)] * 10}),
            201,
        ),
        "vtid-get": lambda n: (event("GET", rec, "GET /vtid/{vtid}", path_params=p), 200),
        "vtid-head": lambda n: (event("HEAD", rec, "HEAD /vtid/{vtid}", path_params=p), 200),
        "vtid-update": lambda n: (
            event("PATCH", rec, "PATCH /vtid/{vtid}", {"metadata": {"run": n}}, path_params=p),
            200,
        ),
        "vtid-list": lambda n: (
            event("GET", "/vtid/list", "GET /vtid/list", query={"limit": "50"}),
            200,
        ),
        "vtid-history": lambda n: (
            event("GET", rec + "/history", "GET /vtid/{vtid}/history", path_params=p),
            200,
        ),
        "vtid-health": lambda n: (
            event("GET", "/vtid/health", "GET /vtid/health", auth=False),
            200,
        ),
        "vtid-audit": lambda n: (
            event("GET", "/vtid/audit", "GET /vtid/audit", query={"year": year}),
            200,
        ),
        "vtid-fallback": lambda n: (
            event("DELETE", rec, "DELETE /vtid/{vtid}", path_params=p),
            405,
        ),
    }
    return [table[binary](n) for n in (1, 2)]
