-- The job loop asks "when does the next lease lapse?" and claims jobs whose
-- lease lapsed; with thousands of jobs running (born claimed on the fast
-- path) both walked every running row. This index answers them in one probe.
create index jobs_lease on jobs (status, lease_until_ms);

-- Enrichment finds an identity by user name or by e-mail, compared in lower
-- case; without this index the e-mail half read the whole table per alert.
create index identities_email_lower on identities (lower(email));

-- The dedup lookups use alerts_dedup_latest (dedup_key, id); this older index
-- only cost every insert one more entry.
drop index alerts_dedup;
