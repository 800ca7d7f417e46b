"""Auth0's Python SDK (auth0-python, pinned in scripts/requirements.txt) against /api/v2.

Run by local/tests/it/sdk.rs: python auth0_python.py BASE_URL TOKEN SCOPELESS_TOKEN CASE_JSON.
The SDK is used as its users use it; only the base URL points at the local server. Exits 0
when every check holds, else prints what did not and exits 1.
"""
import json
import sys

from auth0.management import Auth0
from auth0.management.errors import ForbiddenError, NotFoundError

base_url, token, scopeless, case = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
# No retries: a retried request would hide what the server answered first.
api = Auth0(base_url=base_url, token=token, max_retries=0)

user = api.users.get(case["user_id"])
assert user.user_id == case["user_id"], user
assert user.email == case["email"], user
assert user.identities[0].provider == "auth0", user.identities
assert user.identities[0].connection == "Username-Password-Authentication", user.identities
assert user.user_metadata == {"theme": "dark"}, user.user_metadata
assert user.created_at is not None, user

only = api.users.get(case["user_id"], fields="email,user_id", include_fields=True)
assert only.email == case["email"] and only.name is None, only

social = api.users.get(case["social_id"])
assert social.identities[0].is_social is True, social.identities

try:
    api.users.get(case["missing_id"])
    raise AssertionError("a missing user was found")
except NotFoundError as e:
    assert e.body["errorCode"] == "inexistent_user", e.body
    assert e.body["message"] == "The user does not exist.", e.body

try:
    Auth0(base_url=base_url, token=scopeless, max_retries=0).users.get(case["user_id"])
    raise AssertionError("a token without read:users read a user")
except ForbiddenError as e:
    assert e.status_code == 403, e

print("auth0-python: every check passed")
