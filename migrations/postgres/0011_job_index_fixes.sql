-- /metrics counts queued, running and failed jobs per queue. Queued and
-- running ones are counted through 0009's partial indexes; this one does the
-- same for failed jobs (few, kept for operators), so a scrape never reads
-- the whole jobs table.
create index jobs_failed on jobs (queue) where status = 'failed';
