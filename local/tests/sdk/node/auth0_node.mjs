// Auth0's Node SDK (npm `auth0`, pinned by package-lock.json) against /api/v2, both its
// current API and the v4 API it ships as `auth0/legacy`, as their users call them. The SDK
// hard-codes https://{domain}/api/v2; its `fetch` option sends the requests to the local
// server instead, which is the only change. Run by local/tests/it/sdk.rs:
//   node auth0_node.mjs BASE_URL TOKEN SCOPELESS_TOKEN CASE_JSON
// Exits 0 when every check holds, else prints what did not and exits 1.
import assert from "node:assert/strict";
import { ManagementClient } from "auth0";
import * as legacy from "auth0/legacy";

const [base, token, scopeless, caseJson] = process.argv.slice(2);
const c = JSON.parse(caseJson);
const local = (url, init) => fetch(String(url).replace(/^https:\/\/[^/]+\/api\/v2/, base), init);
const client = (t) =>
  new ManagementClient({ domain: "tenant.example", token: t, fetch: local, maxRetries: 0 });
const api = client(token);

async function fails(status, errorCode, call) {
  try {
    await call();
  } catch (e) {
    assert.equal(e.statusCode, status, String(e));
    if (errorCode) assert.equal(e.body.errorCode, errorCode, JSON.stringify(e.body));
    return e;
  }
  assert.fail(`expected ${status}`);
}

// The current API. Listing: include_totals=true by default, pages until one is empty.
const first = await api.users.list({ page: 0, per_page: 2 });
assert.equal(first.response.total, c.users);
assert.equal(first.data.length, 2);
const everyone = [];
for await (const u of await api.users.list({ per_page: 2 })) everyone.push(u.user_id);
assert.equal(new Set(everyone).size, c.users);
const searched = await api.users.list({ q: 'email:"ana@example.com"', search_engine: "v3" });
assert.deepEqual(searched.data.map((u) => u.user_id), [c.user_id]);
const unverified = await api.users.list({ q: "email_verified:false", search_engine: "v3" });
assert.equal(unverified.response.total, c.users);
const google = await api.users.list({ q: 'identities.connection:"google-oauth2"', search_engine: "v3" });
const socialIds = [c.social_id, `google-oauth2|${c.social_provider_id}`].sort();
assert.deepEqual(google.data.map((u) => u.user_id).sort(), socialIds);
const user = await api.users.get(c.user_id);
assert.equal(user.user_id, c.user_id);
assert.equal(user.identities[0].provider, "auth0");
const only = await api.users.get(c.user_id, { fields: "email,user_id", include_fields: true });
assert.deepEqual(Object.keys(only).sort(), ["email", "user_id"]);
const created = await api.users.create({
  connection: "Username-Password-Authentication",
  email: "nell@example.com",
  password: "correct horse battery staple",
  user_metadata: { plan: "free", theme: "light" },
  verify_email: false,
});
assert.match(created.user_id, /^auth0\|/);
const updated = await api.users.update(created.user_id, {
  user_metadata: { plan: "pro", theme: null },
});
assert.deepEqual(updated.user_metadata, { plan: "pro" });
const byEmail = await api.users.listUsersByEmail({ email: "NELL@example.com" });
assert.deepEqual(byEmail.map((u) => u.user_id), [created.user_id]);
const blocks = await api.userBlocks.list(c.blocked_id);
assert.equal(blocks.blocked_for.length, 1);
assert.equal(blocks.blocked_for[0].connection, "Username-Password-Authentication");
await api.userBlocks.deleteByIdentifier({ identifier: c.blocked_email });
assert.deepEqual((await api.userBlocks.listByIdentifier({ identifier: c.blocked_email })).blocked_for, []);
const ticket = await api.tickets.verifyEmail({ user_id: c.user_id, result_url: c.result_url });
assert.match(ticket.ticket, /ticket=/);
const reset = await api.tickets.changePassword({ user_id: c.user_id });
assert.match(reset.ticket, /ticket=/);
const job = await api.jobs.verificationEmail.create({ user_id: c.user_id });
assert.equal(job.type, "verification_email");
const followed = await api.jobs.get(job.id);
assert.deepEqual([followed.id, followed.type, followed.status], [job.id, job.type, job.status]);
const linked = await api.users.identities.link(created.user_id, { provider: "google-oauth2", user_id: c.social_provider_id });
assert.deepEqual(linked.map((i) => i.provider), ["auth0", "google-oauth2"]);
const left = await api.users.identities.delete(created.user_id, "google-oauth2", c.social_provider_id);
assert.deepEqual(left.map((i) => i.provider), ["auth0"]);
const missing = await fails(404, "inexistent_user", () => api.users.get(c.missing_id));
assert.equal(missing.constructor.name, "NotFoundError");
const duplicate = await fails(409, null, () =>
  api.users.create({ connection: "Username-Password-Authentication", email: "nell@example.com", password: "correct horse battery staple" }),
);
assert.equal(duplicate.constructor.name, "ConflictError");
const forbidden = await fails(403, "insufficient_scope", () => client(scopeless).users.get(c.user_id));
assert.equal(forbidden.constructor.name, "ForbiddenError");
assert.equal(forbidden.body.message, "Insufficient scope, expected any of: read:users");
const unauthorized = await fails(401, null, () => client("not-a-token").users.get(c.user_id));
assert.equal(unauthorized.constructor.name, "UnauthorizedError");
await api.users.delete(created.user_id);
await fails(404, "inexistent_user", () => api.users.get(created.user_id));

// The v4 API, as `auth0/legacy` ships it: responses wrapped in {data}, errors as
// ManagementApiError with the body's fields.
const old = new legacy.ManagementClient({ domain: "tenant.example", token, fetch: local, retry: { enabled: false } });
const { data: listed } = await old.users.getAll({ page: 0, per_page: 2, include_totals: true });
assert.equal(listed.total, c.users);
assert.equal(listed.users.length, 2);
const { data: got } = await old.users.get({ id: c.user_id });
assert.equal(got.user_id, c.user_id);
const { data: made } = await old.users.create({
  connection: "Username-Password-Authentication",
  email: "otto@example.com",
  password: "correct horse battery staple",
  verify_email: false,
});
const { data: changed } = await old.users.update({ id: made.user_id }, { app_metadata: { roles: ["editor"] } });
assert.deepEqual(changed.app_metadata, { roles: ["editor"] });
const { data: found } = await old.usersByEmail.getByEmail({ email: "otto@example.com" });
assert.deepEqual(found.map((u) => u.user_id), [made.user_id]);
const { data: oldBlocks } = await old.userBlocks.get({ id: c.blocked_id });
assert.ok(Array.isArray(oldBlocks.blocked_for));
const { data: oldTicket } = await old.tickets.verifyEmail({ user_id: made.user_id });
assert.match(oldTicket.ticket, /ticket=/);
const { data: oldJob } = await old.jobs.verifyEmail({ user_id: c.user_id });
assert.equal(oldJob.type, "verification_email");
const { data: oldFollowed } = await old.jobs.get({ id: oldJob.id });
assert.equal(oldFollowed.status, oldJob.status);
const { data: oldLinked } = await old.users.link({ id: made.user_id }, { provider: "google-oauth2", user_id: c.social_provider_id });
assert.equal(oldLinked.length, 2);
const { data: oldLeft } = await old.users.unlink({ id: made.user_id, provider: "google-oauth2", user_id: c.social_provider_id });
assert.equal(oldLeft.length, 1);
try {
  await old.users.get({ id: c.missing_id });
  assert.fail("a missing user was found");
} catch (e) {
  assert.ok(e instanceof legacy.ManagementApiError, String(e));
  assert.equal(e.statusCode, 404);
  assert.equal(e.errorCode, "inexistent_user");
  assert.equal(e.message, "The user does not exist.");
}
await old.users.delete({ id: made.user_id });

console.log("auth0 (node): every check passed");
