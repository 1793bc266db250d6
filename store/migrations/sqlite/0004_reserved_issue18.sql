-- A placeholder on branch scale-follow for migration 4, which another
-- branch (shared sign-in state) adds: delete this file when merging.
SELECT 1;
