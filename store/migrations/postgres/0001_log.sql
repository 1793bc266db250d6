-- The public log (docs/spec.md §15): entries, stored hashes in tlog's
-- numbering, the log's size, and signed checkpoints.
CREATE TABLE head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	size BIGINT NOT NULL
);
INSERT INTO head (id, size) VALUES (1, 0);
CREATE TABLE entries (
	idx  BIGINT PRIMARY KEY,
	data BYTEA NOT NULL
);
CREATE TABLE hashes (
	idx  BIGINT PRIMARY KEY,
	hash BYTEA NOT NULL
);
CREATE TABLE checkpoints (
	size BIGINT PRIMARY KEY,
	note BYTEA NOT NULL
);
