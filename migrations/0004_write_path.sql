-- 0004_write_path: fewer pages per commit. A single-app put wrote about ten
-- WAL pages: the app row and its primary-key index, the membership row and
-- its two indexes, the revision row, and the change-log row with its two
-- indexes. The tables of the write path are now clustered by the key they are
-- looked up by (WITHOUT ROWID), so a row is one page write:
--   apps        by id, one b-tree;
--   app_pools   by (pool, app_id), one b-tree; the writer deletes an app's
--               memberships by the pools its stored row names, so neither the
--               app_id index nor the foreign key (whose cascade needed that
--               index) is kept;
--   change_log  by (revision, idx), appended at its right edge; retention by
--               age walks it from the oldest revision, so change_log_by_at is
--               gone.
-- The last revision is the newest in the change log; registry_state keeps the
-- floor for when the log is empty (after retention or a restore), and is no
-- longer written by every commit.
-- The rows are copied as they are; the old tables are renamed away first so
-- that the new ones keep their plain names in the schema.

ALTER TABLE change_log RENAME TO change_log_0003;
CREATE TABLE change_log (
  revision INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  kind TEXT NOT NULL,
  op TEXT NOT NULL,
  topic TEXT NOT NULL,
  record_id TEXT NOT NULL,
  before TEXT,
  after TEXT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  PRIMARY KEY (revision, idx)
) WITHOUT ROWID;
INSERT INTO change_log (revision, idx, kind, op, topic, record_id, before, after, at, actor)
  SELECT revision, idx, kind, op, topic, record_id, before, after, at, actor FROM change_log_0003;
DROP TABLE change_log_0003;

ALTER TABLE app_pools RENAME TO app_pools_0003;
CREATE TABLE app_pools (
  pool TEXT NOT NULL,
  app_id TEXT NOT NULL,
  PRIMARY KEY (pool, app_id)
) WITHOUT ROWID;
INSERT INTO app_pools (pool, app_id) SELECT pool, app_id FROM app_pools_0003;
DROP TABLE app_pools_0003;

ALTER TABLE apps RENAME TO apps_0003;
CREATE TABLE apps (
  id TEXT PRIMARY KEY NOT NULL,
  pools TEXT NOT NULL,
  triggers TEXT NOT NULL,
  meta TEXT NOT NULL,
  protocol_version TEXT NOT NULL,
  registered INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  rehydrated INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO apps (id, pools, triggers, meta, protocol_version, registered, last_seen, rehydrated,
                  created_at, updated_at, revision)
  SELECT id, pools, triggers, meta, protocol_version, registered, last_seen, rehydrated,
         created_at, updated_at, revision FROM apps_0003;
DROP TABLE apps_0003;

-- The floor: what the last revision was when this migration ran.
UPDATE registry_state SET revision = max(revision, coalesce((SELECT max(revision) FROM change_log), 0));
