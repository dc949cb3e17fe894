-- Every batch of alerts updates its incidents (last alert time) and upserts
-- their correlation keys (last seen time); an index on the very column each
-- write changes cost an index write per row. (On PostgreSQL this also lets
-- the updates stay on their page; see the postgres migration.)
--
-- incidents are listed by status, newest first; nothing reads them by last
-- alert time. The correlation lookups find keys through the primary key
-- (key, incident_id) and filter the few rows per key on last_seen_ms.
drop index incidents_status;
create index incidents_status on incidents (status, id);
drop index incident_keys_recent;
