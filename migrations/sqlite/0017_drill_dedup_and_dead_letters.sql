-- drills and real alerts are kept apart in deduplication (issue 13). the
-- dedup key of a drill alert now starts with `drill|`, so a drill never
-- counts as a repeat of a real alert with the same source id (swallowing
-- it) and a real alert never counts as a repeat of a drill. stored drill
-- alerts get the new form of their key.
update alerts set dedup_key = 'drill|' || dedup_key
where drill <> 0 and dedup_key not like 'drill|%';

-- a dead letter remembers whether it was sent as a drill, so replaying it
-- ingests a drill again and never turns a rehearsal into a live alert.
alter table dead_letters add column drill integer not null default 0;

-- when a replay ingested the dead letter's alerts. a second replay would
-- ingest them again (as new alerts once the dedup window has passed, with
-- their playbooks and containment), so it needs `--force`.
alter table dead_letters add column ingested_at text;
update dead_letters set ingested_at = replayed_at
where replayed_at is not null and replay_result like 'ingested%';
