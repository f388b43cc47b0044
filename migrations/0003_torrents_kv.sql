-- 0003_torrents_kv: torrents, the torrent session document, and key-value
-- namespaces with TTL. (Trigger records are never stored: they live in memory.)

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

-- The session configuration: one JSON document.
CREATE TABLE torrent_session (
  id TEXT PRIMARY KEY NOT NULL CHECK (id = 'session'),
  document TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL
);

-- Keyed by (namespace, key): a prefix listing is a range of the primary key.
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
