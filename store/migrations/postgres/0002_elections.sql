-- Many elections in one database (issue 15). Every table of the log gains
-- the election's id; the catalogue lists the elections. A version 1
-- database that holds a log (any entry, a head above 0, or a checkpoint)
-- becomes the election "main", marked legacy, with its rows unchanged; an
-- empty one (an election never created) becomes an empty catalogue.
ALTER TABLE head RENAME TO v1_head;
ALTER INDEX head_pkey RENAME TO v1_head_pkey;
ALTER TABLE entries RENAME TO v1_entries;
ALTER INDEX entries_pkey RENAME TO v1_entries_pkey;
ALTER TABLE hashes RENAME TO v1_hashes;
ALTER INDEX hashes_pkey RENAME TO v1_hashes_pkey;
ALTER TABLE checkpoints RENAME TO v1_checkpoints;
ALTER INDEX checkpoints_pkey RENAME TO v1_checkpoints_pkey;

-- witnesses holds the witnesses' verifier keys, one a line; summary is the
-- server's cached summary of the log's first summary_size entries (-1:
-- none). An election's head row is the lock its appends take.
CREATE TABLE elections (
	id           TEXT PRIMARY KEY CHECK (id ~ '^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$'),
	created_at   TIMESTAMPTZ NOT NULL,
	legacy       BOOLEAN NOT NULL DEFAULT false,
	witnesses    TEXT NOT NULL DEFAULT '',
	summary      BYTEA,
	summary_size BIGINT NOT NULL DEFAULT -1
);
CREATE TABLE head (
	election TEXT PRIMARY KEY REFERENCES elections (id),
	size     BIGINT NOT NULL
);
CREATE TABLE entries (
	election TEXT NOT NULL,
	idx      BIGINT NOT NULL,
	data     BYTEA NOT NULL,
	PRIMARY KEY (election, idx)
);
CREATE TABLE hashes (
	election TEXT NOT NULL,
	idx      BIGINT NOT NULL,
	hash     BYTEA NOT NULL,
	PRIMARY KEY (election, idx)
);
CREATE TABLE checkpoints (
	election TEXT NOT NULL,
	size     BIGINT NOT NULL,
	note     BYTEA NOT NULL,
	PRIMARY KEY (election, size)
);

INSERT INTO elections (id, created_at, legacy)
	SELECT 'main', now(), true
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
