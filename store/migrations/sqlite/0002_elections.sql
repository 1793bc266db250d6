-- Many elections in one database (issue 15). Every table of the log gains
-- the election's id; the catalogue lists the elections. A version 1
-- database that holds a log (any entry, a head above 0, or a checkpoint)
-- becomes the election "main", marked legacy, with its rows unchanged; an
-- empty one (an election never created) becomes an empty catalogue.
ALTER TABLE head RENAME TO v1_head;
ALTER TABLE entries RENAME TO v1_entries;
ALTER TABLE hashes RENAME TO v1_hashes;
ALTER TABLE checkpoints RENAME TO v1_checkpoints;

-- created_at is in microseconds since 1970 (UTC); witnesses holds the
-- witnesses' verifier keys, one a line; summary is the server's cached
-- summary of the log's first summary_size entries (-1: none).
CREATE TABLE elections (
	id           TEXT PRIMARY KEY
		CHECK (length(id) BETWEEN 1 AND 32 AND id NOT GLOB '*[^a-z0-9-]*' AND id NOT GLOB '-*' AND id NOT GLOB '*-'),
	created_at   INTEGER NOT NULL,
	legacy       INTEGER NOT NULL DEFAULT 0 CHECK (legacy IN (0, 1)),
	witnesses    TEXT NOT NULL DEFAULT '',
	summary      BLOB,
	summary_size INTEGER NOT NULL DEFAULT -1
);
CREATE TABLE head (
	election TEXT PRIMARY KEY REFERENCES elections (id),
	size     INTEGER NOT NULL
);
CREATE TABLE entries (
	election TEXT NOT NULL,
	idx      INTEGER NOT NULL,
	data     BLOB NOT NULL,
	PRIMARY KEY (election, idx)
);
CREATE TABLE hashes (
	election TEXT NOT NULL,
	idx      INTEGER NOT NULL,
	hash     BLOB NOT NULL,
	PRIMARY KEY (election, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
	election TEXT NOT NULL,
	size     INTEGER NOT NULL,
	note     BLOB NOT NULL,
	PRIMARY KEY (election, size)
);

INSERT INTO elections (id, created_at, legacy)
	SELECT 'main', CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 1
	WHERE EXISTS (SELECT 1 FROM v1_entries)
		OR EXISTS (SELECT 1 FROM v1_head WHERE size > 0)
		OR EXISTS (SELECT 1 FROM v1_checkpoints);
INSERT INTO head (election, size)
	SELECT 'main', size FROM v1_head WHERE EXISTS (SELECT 1 FROM elections WHERE id = 'main');
INSERT INTO entries (election, idx, data) SELECT 'main', idx, data FROM v1_entries;
INSERT INTO hashes (election, idx, hash) SELECT 'main', idx, hash FROM v1_hashes;
INSERT INTO checkpoints (election, size, note) SELECT 'main', size, note FROM v1_checkpoints;

DROP TABLE v1_head;
DROP TABLE v1_entries;
DROP TABLE v1_hashes;
DROP TABLE v1_checkpoints;
