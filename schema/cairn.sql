-- The current schema of a cairn registry: what every migration in
-- migrations/ adds up to. tests/migrations_test.cpp applies the migrations to
-- an empty database and checks that the result equals this file.
-- schema_migrations is created by the migration engine (lib/migrate).

CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL
);

-- The floor of the last revision, for when the change log holds nothing
-- newer (the last revision is otherwise the change log's newest).
CREATE TABLE registry_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL
);

-- One row per changed record, all rows of a transaction sharing its revision;
-- clustered by (revision, idx), so an append writes its right edge only.
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

-- Which apps name which pool: "apps in a pool" is a key range, not a scan.
-- The writer keeps it by the pools an app's stored row names.
CREATE TABLE app_pools (
  pool TEXT NOT NULL,
  app_id TEXT NOT NULL,
  PRIMARY KEY (pool, app_id)
) WITHOUT ROWID;

CREATE TABLE pools (
  name TEXT PRIMARY KEY NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('local', 'global', 'encrypted')),
  encrypted INTEGER NOT NULL,
  owners TEXT NOT NULL,
  policies TEXT NOT NULL,
  description TEXT NOT NULL,
  config TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL
);
CREATE INDEX pools_by_type ON pools (type, name);

CREATE TABLE memory_blocks (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  pool TEXT NOT NULL REFERENCES pools (name),
  size INTEGER NOT NULL CHECK (size >= 0),
  type TEXT NOT NULL CHECK (type IN ('binary', 'json', 'stream')),
  permissions TEXT NOT NULL,
  version INTEGER NOT NULL,
  persistent INTEGER NOT NULL,
  encrypted INTEGER NOT NULL,
  config TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL
);
CREATE INDEX memory_blocks_by_pool ON memory_blocks (pool, id);
CREATE INDEX memory_blocks_by_type ON memory_blocks (type, id);

CREATE TABLE server_config (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL
);

CREATE TABLE subscriptions (
  name TEXT PRIMARY KEY NOT NULL,
  acked_revision INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE torrents (
  info_hash TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('added', 'started', 'stopped', 'completed', 'removed')),
  save_path TEXT NOT NULL,
  total_size INTEGER NOT NULL CHECK (total_size >= 0),
  downloaded INTEGER NOT NULL CHECK (downloaded >= 0),
  uploaded INTEGER NOT NULL CHECK (uploaded >= 0),
  pieces BLOB NOT NULL,
  trackers TEXT NOT NULL,
  file_priorities TEXT NOT NULL,
  limits TEXT NOT NULL,
  flags TEXT NOT NULL,
  added_at INTEGER NOT NULL,
  completed_at INTEGER NOT NULL,
  last_activity INTEGER NOT NULL,
  metainfo BLOB NOT NULL,
  extra TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL
);
CREATE INDEX torrents_by_state ON torrents (state, info_hash);

CREATE TABLE torrent_session (
  id TEXT PRIMARY KEY NOT NULL CHECK (id = 'session'),
  document TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL
);

CREATE TABLE kv_entries (
  namespace TEXT NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  version INTEGER NOT NULL,
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX kv_entries_by_expiry ON kv_entries (expires_at) WHERE expires_at IS NOT NULL;
