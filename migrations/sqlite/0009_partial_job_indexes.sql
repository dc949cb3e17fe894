-- Most jobs are born running on the fast path and never queued, and every
-- job ends done. The indexes the job loop reads held an entry for every one
-- of them (and one more per status change), so under load a claim or the
-- next-due probe walked thousands of entries of jobs long finished. These
-- partial indexes hold only what the loop asks about: queued jobs by start
-- time, running jobs by lease end.
create index jobs_queued on jobs (run_at_ms, queue) where status = 'queued';
create index jobs_running on jobs (lease_until_ms) where status = 'running';
drop index jobs_due;
drop index jobs_lease;
