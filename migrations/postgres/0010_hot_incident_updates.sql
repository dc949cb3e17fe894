-- Every batch of alerts updates its incidents (severity, last alert time)
-- and upserts their correlation keys (last seen time). Both tables indexed
-- the very column each of those writes changes, so every update wrote a new
-- entry into every index of the table. Without those columns in an index,
-- and with room left on each page, PostgreSQL updates the rows in place
-- (heap-only tuples): no index writes at all.
--
-- incidents are listed by status, newest first; nothing reads them by last
-- alert time. The correlation lookups find keys through the primary key
-- (key, incident_id) and filter the few rows per key on last_seen_ms.
drop index incidents_status;
create index incidents_status on incidents (status, id);
drop index incident_keys_recent;
alter table incidents set (fillfactor = 80);
alter table incident_keys set (fillfactor = 80);
