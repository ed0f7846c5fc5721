"""moto in server mode for the local stack, with DynamoDB's writes taken one at a time.

moto's server answers each connection on its own thread, and its DynamoDB
backend checks a ConditionExpression and then writes without a lock: two
concurrent conditional writes on one item can both pass. On AWS a conditional
write is atomic ("Condition expressions", Amazon DynamoDB Developer Guide), and
the stack's runner claims, leases and idempotency keys rely on that. So every
DynamoDB write here runs under one lock; reads and the other services keep
their threads. Usage: python3 local/moto_server.py -H 127.0.0.1 -p PORT (moto_server's
arguments).
"""

import sys
import threading

import moto.server

_DYNAMODB = threading.Lock()
_WRITES = {
    "DynamoDB_20120810." + op
    for op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
}


def serialize_dynamodb(app):
    def application(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "") in _WRITES:
            with _DYNAMODB:
                # The body is produced inside the lock, where the write happens.
                return list(app(environ, start_response))
        return app(environ, start_response)

    return application


_run_simple = moto.server.run_simple


def run_simple(host, port, application, **options):
    _run_simple(host, port, serialize_dynamodb(application), **options)


moto.server.run_simple = run_simple

if __name__ == "__main__":
    sys.exit(moto.server.main())
