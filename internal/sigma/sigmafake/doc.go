// Package sigmafake is an in-process emulator of one Sigma Computing
// organisation: the REST API v2 (token endpoint, members, teams, account
// types, whoami) and the Enterprise SCIM endpoint, served from one shared
// state, over real HTTP (Start, Listen) or as an http.Handler (New).
//
// It follows Sigma's official OpenAPI description and the facts collected in
// SIGMA.md: access tokens that expire (TTL on the injected clock), a token
// endpoint limited to about one request per second (429 with no body and no
// Retry-After), the legacy bare-array answer when `limit` is absent and
// {entries,nextPage} with it, opaque `page` cursors, `limit` over 1000
// rejected, archived/inactive members hidden unless asked for, 409
// "Duplicate record", 404 "Member type name is not found", DELETE that only
// deactivates, team membership that refuses archived or inactive members,
// and account types with their own pageSize/pageToken pagination.
//
// Where Sigma's documentation is silent the emulator chooses, and tests pin
// the choice:
//   - Emails are unique and matched case-insensitively (`email=`, 409).
//   - memberType must match an account type name exactly (case-sensitive).
//   - Team names are unique case-insensitively; `name=` matches the same way.
//   - Without `limit`, paginated-only endpoints (/v2.1/*, team members,
//     member teams) use 50; account types use pageSize 50.
//   - `email=` honours includeArchived/includeInactive like the listing.
//   - isArchived/isInactive are omitted when false ("absent means false").
//   - Error codes: bad_request, unauthorized, not_found, conflict,
//     internal_error, in Sigma's {"message","code","requestId"} body.
//   - The org default account type is "View" (the least-privileged built-in).
//   - The first seeded member is the Admin owning the API credentials
//     (OwnerID); it is createdBy/addedBy of API writes and receives the
//     documents of members deleted through the API.
//   - SCIM userType is the account type as Sigma's SCIM spells it: built-ins
//     in lower case ("admin", "pro", "essential", "view"), custom types
//     exactly as named; matching is exact. A missing or null userType on
//     POST/PUT answers 400 "Expecting string at userType but instead got: null".
//   - SCIM filters: only `userName eq "x"` (Users) and `displayName eq "x"`
//     (Groups), case-insensitive values; anything else is 400 invalidFilter.
//   - SCIM DELETE /Users deactivates (isArchived); archived members are
//     invisible to SCIM, inactive ones (active=false) are listed. A SCIM POST
//     of an archived member's userName reactivates that same member.
//   - Guests cannot be provisioned through SCIM (400).
//   - Archived or inactive members cannot be added to a team through REST or
//     SCIM; REST also refuses to remove them (as documented), SCIM lets IdPs
//     remove them so deprovisioned users can leave groups.
//
// An org can be given a capacity (Options.Capacity, SetCapacity): a request
// rate above which REST and SCIM requests get a bare 429, so that clients'
// pacing can be shown to converge on it.
//
// Tests can inject faults per path prefix (SetFault), read the request log
// (Requests, CountRequests), move the clock (Options.Now), expire tokens,
// rotate credentials and switch SCIM off. Every method is safe for
// concurrent use.
package sigmafake
