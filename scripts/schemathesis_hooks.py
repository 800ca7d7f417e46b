"""Hooks for scripts/schemathesis.sh (named by scripts/schemathesis.toml)."""

import itertools

import schemathesis

_effects = itertools.count(1)


def _valid_key(key):
    return isinstance(key, str) and 1 <= len(key) <= 240 and all(33 <= ord(c) <= 126 for c in key)


@schemathesis.hook
def before_call(context, case, kwargs):
    # Generated keys come from a few short strings, so nearly every request would reuse one an
    # earlier request of another body took (409 idempotency_key_reused) and never reach the
    # operation. A valid key is made the key of one new effect each time, in the order the
    # requests go, so a run stays the same; replays and reuse are tested in idempotency.rs.
    # An invalid key is left as generated, for its 400.
    headers = case.headers or {}
    if _valid_key(headers.get("Idempotency-Key")):
        headers["Idempotency-Key"] = f"{headers['Idempotency-Key']}.{next(_effects)}"
