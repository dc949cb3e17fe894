-- The dedup lookups ask for the newest alert with a key
-- (`where dedup_key = $1 … order by id desc limit 1`). With only
-- (dedup_key, last_seen_at), PostgreSQL's generic plan for that statement
-- walks the primary key backwards and filters, which reads the whole table
-- for a key that is new, so ingest slowed down as the table grew. This index
-- answers both lookups in one probe.
create index alerts_dedup_latest on alerts (dedup_key, id);
