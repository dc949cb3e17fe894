-- SQLite's planner takes an index per arm of the job claim's OR only when no
-- index predicate has to be proved: with 0009's partial indexes the claim
-- scanned the whole jobs table, on the one writer connection. SQLite has no
-- dead index entries to skip (what the partial indexes fix on PostgreSQL),
-- so it goes back to whole indexes.
drop index jobs_queued;
drop index jobs_running;
create index jobs_due on jobs (status, run_at_ms);
create index jobs_lease on jobs (status, lease_until_ms);
