-- What the nodes on one database share besides the elections' logs (issue
-- 18): the voters' sign-in codes and limits, and the staff accounts'
-- trail and sessions. Times are microseconds since 1970 (UTC).

-- A code mailed to a voter (spec §20.3), under the election's sign-in
-- (scope) and the address's MAC (addr: no address is stored in clear):
-- short and long are the MACs of its 8- and 16-digit forms; sent is when
-- its letter went to the mail server (0: not yet), and it lives until
-- expires; attempts counts the wrong tries of its short form.
CREATE TABLE signin_codes (
	scope    TEXT NOT NULL,
	addr     TEXT NOT NULL,
	id       TEXT NOT NULL,
	short    BYTEA NOT NULL,
	long     BYTEA NOT NULL,
	sent     BIGINT NOT NULL DEFAULT 0,
	expires  BIGINT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (scope, addr, id)
);
CREATE INDEX signin_codes_expires ON signin_codes (expires);

-- Budgets: token buckets (tokens, refilled as of at; last is when one was
-- last taken) and failure counters (tokens counts the failures, at the
-- last), by key. A row not touched for a full refill is as good as absent
-- and is swept.
CREATE TABLE budgets (
	key    TEXT PRIMARY KEY,
	tokens DOUBLE PRECISION NOT NULL,
	at     BIGINT NOT NULL,
	last   BIGINT NOT NULL DEFAULT 0,
	sweep  BIGINT NOT NULL
);
CREATE INDEX budgets_sweep ON budgets (sweep);

-- Staff sessions, by the SHA-256 of their secret (the cookie's value),
-- sealed under the staff key (they may hold an enrolment's secret).
CREATE TABLE staff_sessions (
	hash    BYTEA PRIMARY KEY,
	account TEXT NOT NULL,
	expires BIGINT NOT NULL,
	data    BYTEA NOT NULL
);
CREATE INDEX staff_sessions_account ON staff_sessions (account);

-- The staff audit trail: each event's line as it is hashed, and the head
-- (the last event's number and hash, under a MAC keyed by the staff key),
-- whose row lock every append takes, so that the chain never forks.
CREATE TABLE staff_trail (
	seq  BIGINT PRIMARY KEY,
	line BYTEA NOT NULL
);
CREATE TABLE staff_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL,
	mac  TEXT NOT NULL
);
INSERT INTO staff_head (id, seq, hash, mac) VALUES (1, 0, '', '');
