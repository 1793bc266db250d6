-- The trustees an officer invites before the manifest (issue 16), and the
-- roster made from their identities. Nothing here is in the election's
-- record: the roster enters it inside the manifest.
--
-- An invitation's token is kept only as its SHA-256 (token_hash; NULL for
-- an identity the officer added by hand), valid until expires_at; identity
-- is the identity.json received (NULL: none yet). Times are microseconds
-- since 1970 (UTC), 0 for none, as in the SQLite schema, so that both
-- stores share their statements.
CREATE TABLE trustee_invitations (
	election    TEXT NOT NULL REFERENCES elections (id),
	id          BIGINT NOT NULL CHECK (id >= 1),
	name        TEXT NOT NULL,
	email       TEXT NOT NULL DEFAULT '',
	token_hash  BYTEA CHECK (token_hash IS NULL OR length(token_hash) = 32),
	expires_at  BIGINT NOT NULL DEFAULT 0,
	created_at  BIGINT NOT NULL,
	identity    BYTEA,
	identity_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (election, id)
);
CREATE TABLE trustee_rosters (
	election TEXT PRIMARY KEY REFERENCES elections (id),
	roster   BYTEA NOT NULL,
	made_at  BIGINT NOT NULL
);
