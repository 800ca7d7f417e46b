"""Auth0's Python SDK (auth0-python, pinned in scripts/requirements.txt) against /api/v2.

Run by local/tests/it/sdk.rs: python auth0_python.py BASE_URL TOKEN SCOPELESS_TOKEN CASE_JSON.
The SDK is used as its users use it; only the base URL points at the local server. Exits 0
when every check holds, else prints what did not and exits 1.
"""
import json
import sys

from auth0.management import Auth0
from auth0.management.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)

base_url, token, scopeless, case = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
# No retries: a retried request would hide what the server answered first.
api = Auth0(base_url=base_url, token=token, max_retries=0)

# Listing: the SDK sends include_totals=true and pages until a page comes back empty.
first = api.users.list(page=0, per_page=2)
assert first.response.total == case["users"], first.response
assert first.response.length == 2 and len(first.items) == 2, first.response
everyone = [u.user_id for u in api.users.list(per_page=2)]
assert len(everyone) == case["users"] and len(set(everyone)) == case["users"], everyone
found = api.users.list(q='email:"ana@example.com"', search_engine="v3")
assert [u.user_id for u in found.items] == [case["user_id"]], found.items
# Search by the two terms an index answers besides email and id.
unverified = api.users.list(q="email_verified:false", search_engine="v3")
assert unverified.response.total == case["users"], unverified.response
google = api.users.list(q='identities.connection:"google-oauth2"', search_engine="v3")
social_ids = [case["social_id"], "google-oauth2|" + case["social_provider_id"]]
assert sorted(u.user_id for u in google.items) == sorted(social_ids), google.items
assert google.response.total == 2, google.response

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
    assert e.body["errorCode"] == "insufficient_scope", e.body
    assert e.body["message"] == "Insufficient scope, expected any of: read:users", e.body

try:
    Auth0(base_url=base_url, token="not-a-token", max_retries=0).users.get(case["user_id"])
    raise AssertionError("a request without a valid token was answered")
except UnauthorizedError as e:
    assert e.status_code == 401, e

# A user's life through the SDK: create, update, find by email, delete.
created = api.users.create(
    connection="Username-Password-Authentication",
    email="bo@example.com",
    password="correct horse battery staple",
    user_metadata={"plan": "free", "theme": "light"},
    verify_email=False,
)
assert created.user_id.startswith("auth0|"), created
assert created.identities[0].connection == "Username-Password-Authentication", created
updated = api.users.update(
    created.user_id,
    user_metadata={"plan": "pro", "theme": None},
    app_metadata={"roles": ["editor"]},
    given_name="Bo",
)
assert updated.user_metadata == {"plan": "pro"}, updated.user_metadata
assert updated.app_metadata == {"roles": ["editor"]}, updated.app_metadata
assert updated.given_name == "Bo", updated
found = api.users.list_users_by_email(email="BO@example.com")
assert [u.user_id for u in found] == [created.user_id], found
only = api.users.list_users_by_email(email="bo@example.com", fields="user_id", include_fields=True)
assert only[0].email is None and only[0].user_id == created.user_id, only
try:
    api.users.create(
        connection="Username-Password-Authentication",
        email="bo@example.com",
        password="correct horse battery staple",
    )
    raise AssertionError("a second user with the same email was created")
except ConflictError as e:
    assert e.body["message"] == "The user already exists.", e.body
api.users.delete(created.user_id)
try:
    api.users.get(created.user_id)
    raise AssertionError("a deleted user was found")
except NotFoundError:
    pass

# Brute-force blocks, by id and by identifier; the admin block through an update.
blocks = api.user_blocks.list(case["blocked_id"])
assert len(blocks.blocked_for) == 1, blocks
assert blocks.blocked_for[0].connection == "Username-Password-Authentication", blocks
assert blocks.blocked_for[0].identifier == case["blocked_email"], blocks
by_identifier = api.user_blocks.list_by_identifier(identifier=case["blocked_email"])
assert len(by_identifier.blocked_for) == 1, by_identifier
api.user_blocks.delete_by_identifier(identifier=case["blocked_email"])
assert api.user_blocks.list(case["blocked_id"]).blocked_for == [], "cleared"
api.user_blocks.delete(case["blocked_id"])
assert api.users.update(case["blocked_id"], blocked=True).blocked is True

# Tickets and the verification job, naming the user by its Auth0 id.
verify = api.tickets.verify_email(user_id=case["user_id"], result_url=case["result_url"])
assert "/email-verification/confirm?ticket=" in verify.ticket, verify
change = api.tickets.change_password(user_id=case["user_id"], mark_email_as_verified=True)
assert "ticket=" in change.ticket, change
job = api.jobs.verification_email.create(user_id=case["user_id"], client_id="any-client")
assert job.type == "verification_email" and job.id and job.status in ("completed", "pending"), job
assert job.created_at is not None, job
followed = api.jobs.get(job.id)
assert (followed.id, followed.type, followed.status) == (job.id, job.type, job.status), followed
try:
    api.jobs.get("job_01JDQ8Z6V3N4W5X6Y7Z8A9B0J9")
    raise AssertionError("a job that never was was found")
except NotFoundError as e:
    assert e.body["errorCode"] == "job_not_found", e.body

# Linking: a social user and a database user into the primary, then one unlinked.
linked = api.users.identities.link(case["user_id"], provider="google-oauth2", user_id="10876")
assert [i.provider for i in linked] == ["auth0", "google-oauth2"], linked
assert linked[1].user_id == "10876" and linked[1].profile_data is not None, linked
try:
    api.users.get(case["social_id"])
    raise AssertionError("a linked identity is still a user of its own")
except NotFoundError:
    pass
database_id = case["database_id"]
linked = api.users.identities.link(case["user_id"], provider="auth0", user_id=database_id)
assert [i.provider for i in linked] == ["auth0", "google-oauth2", "auth0"], linked
left = api.users.identities.delete(case["user_id"], "google-oauth2", "10876")
assert [i.provider for i in left] == ["auth0", "auth0"], left
assert api.users.get(case["social_id"]).user_id == case["social_id"], "standalone again"

print("auth0-python: every check passed")
