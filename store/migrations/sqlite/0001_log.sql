-- The public log (docs/spec.md §15): entries, stored hashes in tlog's
-- numbering, the log's size, and signed checkpoints.
CREATE TABLE head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	size INTEGER NOT NULL
);
INSERT INTO head (id, size) VALUES (1, 0);
CREATE TABLE entries (
	idx  INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE hashes (
	idx  INTEGER PRIMARY KEY,
	hash BLOB NOT NULL
);
CREATE TABLE checkpoints (
	size INTEGER PRIMARY KEY,
	note BLOB NOT NULL
);
