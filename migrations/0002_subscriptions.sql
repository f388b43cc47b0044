-- 0002_subscriptions: the positions of named (durable) subscriptions, and an
-- index for change-log retention by age.

-- The last revision each named subscription has handled. Retention keeps the
-- change log after these positions (up to a maximum lag).
CREATE TABLE subscriptions (
  name TEXT PRIMARY KEY NOT NULL,
  acked_revision INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE INDEX change_log_by_at ON change_log (at);
