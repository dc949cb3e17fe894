-- What a chat surface has already done for an incident, so that a retried or
-- repeated chat job never posts the same thing twice: one row per item
-- (`channel`, `alert:<id>`, `event:<decision>:<seq>`, `main_hash`), with the
-- platform's reference for it (a channel id, a message ts, a content hash).
-- Written by the one chat job that runs per incident at a time (jobs are
-- ordered per platform and incident), so an upsert is enough.
create table chat_state (
    platform text not null,                  -- slack | discord
    incident_id integer not null references incidents (id),
    item text not null,
    value text not null,
    updated_at text not null,
    primary key (platform, incident_id, item)
);
