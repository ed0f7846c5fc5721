"""Credentials for schemathesis runs against the local stack (local/schemathesis.sh).

The registry's routes need a bearer token: the admin token for the platform's
calls (register, list, read, remove) and a Runner's own token for its calls
(heartbeat, claim, complete). The admin token comes from the environment
(WORKER_JOBS_ADMIN_TOKEN, read from the stack's Secrets Manager by the
script); a Runner is registered once, for the organization below, and its
calls are made as that Runner (its id in the path, its token in the header),
so that they reach the registry's logic instead of stopping at 401/403.
The job API's routes take no token (the gateway authorizes them on AWS).
"""

import json
import os
import urllib.request

import schemathesis

URL = os.environ["WORKER_JOBS_API_URL"]
ADMIN_TOKEN = os.environ["WORKER_JOBS_ADMIN_TOKEN"]
OWNER = "org-schemathesis"

RUNNER_PATHS = {
    "/api/runners/{id}/heartbeat",
    "/api/runners/{id}/claim",
    "/api/runners/{id}/jobs/{job_id}/complete",
}
ADMIN_PATHS = {"/api/runners/register", "/api/runners", "/api/runners/{id}"}

_runner = {}


def runner():
    """The Runner the runner-token calls are made as (registered once)."""
    if not _runner:
        request = urllib.request.Request(
            URL + "/api/runners/register",
            data=json.dumps({"name": "schemathesis-runner", "owner": OWNER}).encode(),
            headers={
                "Authorization": "Bearer " + ADMIN_TOKEN,
                "Content-Type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            _runner.update(json.load(answer))
    return _runner


@schemathesis.auth(refresh_interval=None)
class RegistryTokens:
    def get(self, case, context):
        path = case.operation.path
        if path in RUNNER_PATHS:
            return ("runner", runner())
        if path in ADMIN_PATHS:
            return ("admin", None)
        return None

    def set(self, case, data, context):
        kind, registered = data
        if kind == "runner":
            # The token is valid for this Runner only: call as it.
            case.path_parameters = {**(case.path_parameters or {}), "id": registered["id"]}
            token = registered["token"]
        else:
            token = ADMIN_TOKEN
        case.headers = {**(case.headers or {}), "Authorization": "Bearer " + token}
