"""moto in server mode, with these changes.

1. Requests reach its backends one at a time. moto's backends do not lock, so two
   concurrent conditional writes to one item can both pass their condition check; DynamoDB
   never lets that happen. The concurrency tests (racing creates, racing If-Match updates)
   need DynamoDB's atomicity, so every request runs under one lock. Connections are still
   accepted concurrently.
2. A query of a table's own key reads only the partition it names: moto sorts every item of
   the table on each query, so a query's cost grew with the table, not with what it reads.
3. A transaction backs up only the items it touches. moto deep-copies the whole table (once
   per item of the transaction) so it can roll back, which makes a transaction cost time in
   proportion to the table: minutes each on a table of 100,000 users. Under the lock of (1)
   nothing else changes the table meanwhile, so restoring the touched items is the same
   rollback.

4. A transaction takes up to 100 actions, as DynamoDB's has since 2022; moto still stops at 25.

5. An item's size is counted by DynamoDB's rules (numbers by significant digits, lists and
   maps with their overheads), not moto's (every digit a byte, no overheads), so an item
   DynamoDB would refuse as over 400 KB is refused here too.

6. A `TransactWriteItems` repeated with its `ClientRequestToken` within ten minutes answers
   as the first did without being applied again, and one with the same token and other
   parameters is refused (`IdempotentParameterMismatchException`), as on DynamoDB. The SDK
   gives every transaction a token and keeps it across its retries, so a try cut off by the
   SDK's timeout while moto was still applying it (a busy moment of the test suite) is
   retried; moto applied the retry again, its conditions failed on the first's writes, and a
   request that had succeeded answered 409.

(2) and (3) change what a request costs, never what it answers; the benchmark of the purge
over 100,000 users needs them to finish in minutes.

usage: python moto_server.py PORT
"""
import collections
import copy
import io
import json
import os
import signal
import sys
import threading
import time

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
import moto.dynamodb.models.utilities as dynamodb_utilities
import moto.dynamodb.responses as dynamodb_responses

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class Serialized:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Materialise the response inside the lock: a lazy body would run the backend
            # after the lock is released.
            return list(self.app(environ, start_response))


class IdempotentTransactions:
    """(6): runs inside `Serialized`'s lock, so a token is looked up and recorded with its
    transaction applied in between by no one else."""

    WINDOW_SECS = 600

    def __init__(self, app):
        self.app = app
        # token -> (expires, parameters, status, headers, body); in order of expiry.
        self.applied = collections.OrderedDict()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").endswith(".TransactWriteItems"):
            return self.app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            params = json.loads(raw)
        except ValueError:
            params = None
        token = params.get("ClientRequestToken") if isinstance(params, dict) else None
        if not isinstance(token, str):
            return self.app(environ, start_response)
        now = time.monotonic()
        while self.applied and next(iter(self.applied.values()))[0] <= now:
            self.applied.popitem(last=False)
        if token in self.applied:
            _, first, status, headers, body = self.applied[token]
            if first != params:
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
                return [json.dumps({
                    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "message": "The request uses the same client token as a previous, but non-identical request.",
                }).encode()]
            start_response(status, headers)
            return body
        answered = {}

        def recording(status, headers, exc_info=None):
            answered["status"], answered["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = list(self.app(environ, recording))
        if answered.get("status", "").startswith("200"):
            self.applied[token] = (now + self.WINDOW_SECS, params, answered["status"], answered["headers"], body)
        return body


class _NoTableCopies:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a table is "copied"
    as itself, anything else as before."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched_key(backend, op):
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    if "Item" in op:
        key = {table.hash_key_attr: op["Item"].get(table.hash_key_attr)}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op["Item"].get(table.range_key_attr)
        return key
    return op.get("Key")


def _item_level_rollback(backend_class):
    whole_table = backend_class.transact_write_items

    def transact_write_items(self, transact_items):
        before = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            key = _touched_key(self, op)
            if key is None:
                continue
            try:
                item = self.get_item(op["TableName"], key)
            except Exception:  # a malformed key: moto refuses the transaction before writing
                continue
            before.append((op["TableName"], key, copy.deepcopy(item)))
        dynamodb_models.copy = _NoTableCopies
        try:
            return whole_table(self, transact_items)
        except Exception:
            for table_name, key, item in reversed(before):
                self.delete_item(table_name, key)
                if item is not None:
                    self.put_item(table_name, item.to_json()["Attributes"])
            raise
        finally:
            dynamodb_models.copy = copy

    backend_class.transact_write_items = transact_write_items


def _partition_queries(table_class):
    whole_table = table_class.query

    def query(self, hash_key, *args, **kwargs):
        # moto passes index_name as the eighth positional argument.
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None or not self.range_key_attr:
            return whole_table(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition
        try:
            return whole_table(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    table_class.query = query


def _number_size(text):
    mantissa = text.lower().split("e")[0]
    digits = "".join(c for c in mantissa if c.isdigit()).strip("0")
    return (len(digits) + 1) // 2 + 1


def _dynamodb_sizes(dynamo_type):
    bytesize = dynamodb_utilities.bytesize

    def size(self):
        if self.is_number():
            return _number_size(str(self.value))
        if self.is_set():
            sub_type = self.type[0]
            return sum(dynamo_type({sub_type: v}).size() for v in self.value)
        if self.is_list():
            return 3 + sum(v.size() + 1 for v in self.value)
        if self.is_map():
            return 3 + sum(bytesize(k) + v.size() + 1 for k, v in self.value.items())
        if isinstance(self.value, bool):
            return 1
        return bytesize(self.value)

    dynamo_type.size = size


def main() -> None:
    port = int(sys.argv[1])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    _partition_queries(Table)
    _dynamodb_sizes(DynamoType)
    _item_level_rollback(dynamodb_models.DynamoDBBackend)
    dynamodb_responses.TRANSACTION_MAX_ITEMS = 100
    app = DomainDispatcherApplication(create_backend_app)
    served = Serialized(IdempotentTransactions(app))
    run_simple("127.0.0.1", port, served, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
