"""Prints an admin HS256 token of tenant `fuzz` (so a body may leave `tenant` out), valid
for an hour, signed with the secret in argv[1]."""

import base64
import hashlib
import hmac
import json
import sys
import time


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


secret = open(sys.argv[1], "rb").read().strip()
claims = {"sub": "fuzzer", "role": "admin", "tenant": "fuzz", "exp": int(time.time()) + 3600}
signed = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
print(signed + "." + b64(hmac.new(secret, signed.encode(), hashlib.sha256).digest()))
