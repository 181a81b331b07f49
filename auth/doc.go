// Package auth issues, stores and checks Meterhouse's API tokens and keeps the audit trail
// of their administration.
//
// A token is "mh_" followed by 32 random bytes in unpadded base64url. It is shown once,
// when created, and stored only as its HMAC-SHA256 under a server-side secret
// (Config.SecretFile or Config.Secret), in the table api_tokens of the private database
// (schema.Config.PrivateDatabase), together with its public id, the name of its principal,
// its roles and its expiry. Revoking a token appends a row that wins over the creation (see
// migration 0004). Every creation and revocation is recorded in admin_audit, in the same
// private database, with its actor and time.
//
// Store implements api.Authenticator, so api.Server authenticates bearer tokens with it,
// and registers the admin-only token routes under /v1/admin.
package auth
