-- cordon schema, SQLite dialect. Keep in step with migrations/postgres/0001_initial.sql:
-- the same tables, columns and constraints; only types differ (TEXT timestamps
-- here, TIMESTAMPTZ there). JSON is TEXT on both: the Rust side owns its shape.
-- Times that the scheduler compares
-- (due_at, run_at, lease_until) are integer milliseconds since the epoch on both.

-- incidents group correlated alerts; severity is the max of their alerts.
create table incidents (
    id integer primary key autoincrement,
    title text not null,
    severity integer not null,               -- 0 info .. 4 critical
    status text not null default 'open',     -- open | contained | resolved
    opened_at text not null,
    detected_at text not null,               -- earliest detected_at of its alerts
    last_alert_at text not null,
    acknowledged_at text,
    contained_at text,
    resolved_at text,
    drill integer not null default 0,
    team text
);
create index incidents_status on incidents (status, last_alert_at);

-- correlation keys (host:x, user:y, ip:z) of open incidents, for the lookup
-- "is there an open incident about this host in the window?"
create table incident_keys (
    key text not null,
    incident_id integer not null references incidents (id),
    last_seen_ms integer not null,
    primary key (key, incident_id)
);
create index incident_keys_recent on incident_keys (key, last_seen_ms);

create table alerts (
    id integer primary key autoincrement,
    incident_id integer not null references incidents (id),
    format text not null,
    sender text not null,                    -- the JWT `sub` of the sending tool
    source_id text,
    fingerprint text not null,
    dedup_key text not null,                 -- format/sender + source_id, else fingerprint
    title text not null,
    description text,
    severity integer not null,
    source_severity text,
    detected_at text not null,
    received_at text not null,
    last_seen_at text not null,
    occurrences integer not null default 1,
    status text not null default 'firing',   -- firing | resolved
    observables text not null,               -- JSON
    tags text not null,                      -- JSON array
    rule text,
    raw text not null,                       -- JSON, verbatim record
    enrichment text,                         -- JSON, filled after enrichment
    enrichment_partial integer not null default 0,
    drill integer not null default 0
);
create index alerts_dedup on alerts (dedup_key, last_seen_at);
create index alerts_incident on alerts (incident_id);

create table decisions (
    id integer primary key autoincrement,
    incident_id integer not null references incidents (id),
    alert_id integer references alerts (id),
    action text not null,
    target_kind text not null,
    target_value text not null,
    rule text,                               -- matching rule name; null = forbidden by default
    mode text not null,
    matrix_hash text not null,               -- the matrix version this decision lives under
    state text not null,
    context text not null,                   -- JSON ActionContext used for authorisation
    attributes text not null,                -- JSON vendor ids for the executor
    saved_state text,                        -- JSON saved by the forward action for its inverse
    proposer text,
    next_seq integer not null default 0,
    created_at text not null,
    updated_at text not null,
    drill integer not null default 0
);
create index decisions_incident on decisions (incident_id);
-- a pipeline that runs twice (its job's lease ran out) proposes nothing twice.
create unique index decisions_once on decisions (alert_id, action, target_value);
create index decisions_state on decisions (state);

-- append-only; (decision_id, seq) settles races: two writers that read the same
-- next_seq cannot both insert, the loser gets a Conflict and re-reads.
create table decision_events (
    decision_id integer not null references decisions (id),
    seq integer not null,
    at text not null,
    kind text not null,                      -- event type, also inside data
    actor_person text,
    actor_platform text,
    actor_user text,
    actor_role text,
    data text not null,                      -- JSON of the whole event
    primary key (decision_id, seq)
);

-- durable work: connector calls and chat posts.
create table jobs (
    id integer primary key autoincrement,
    queue text not null,                     -- 'execute' | 'chat' | ...
    dedup_key text unique,                   -- e.g. execute:dec-42:forward:0
    payload text not null,                   -- JSON
    status text not null default 'queued',   -- queued | running | done | failed
    run_at_ms integer not null,
    attempts integer not null default 0,
    max_attempts integer not null default 8,
    lease_until_ms integer,
    locked_by text,
    last_error text,
    ordering_key text,                       -- jobs sharing a key run in id order (per-channel pacing)
    created_at text not null,
    finished_at text
);
create index jobs_due on jobs (status, run_at_ms);
create index jobs_ordering on jobs (ordering_key, status, id);

-- durable timers: veto window end, approval timeout, escalation, containment expiry.
create table timers (
    id integer primary key autoincrement,
    decision_id integer not null references decisions (id),
    kind text not null,
    due_ms integer not null,
    status text not null default 'pending',  -- pending | fired | cancelled
    lease_until_ms integer,
    created_at text not null,
    unique (decision_id, kind, due_ms)
);
create index timers_due on timers (status, due_ms);

create table assets (
    hostname text primary key,               -- lower case
    ips text not null,                       -- JSON array
    tier text,
    environment text,
    business_service text,
    owners text not null,                    -- JSON array of person ids or emails
    attributes text not null,                -- JSON vendor ids (crowdstrike_aid, ec2_instance_id, ...)
    updated_at text not null
);

create table identities (
    username text primary key,               -- lower case
    email text,
    department text,
    privileged integer not null default 0,
    manager text,
    attributes text not null,
    updated_at text not null
);

-- where each incident / decision was shown, so messages are updated in place.
create table chat_messages (
    id integer primary key autoincrement,
    platform text not null,                  -- slack | discord
    incident_id integer not null references incidents (id),
    decision_id integer references decisions (id),
    channel text not null,
    message_ref text not null,               -- Slack ts / Discord message id
    thread_ref text,
    created_at text not null,
    updated_at text not null,
    unique (platform, incident_id, decision_id)
);

-- every rejected body after authentication, kept verbatim and re-playable.
create table dead_letters (
    id integer primary key autoincrement,
    received_at text not null,
    sender text,
    format text,
    content_type text,
    reason text not null,
    field text,
    body blob not null,
    replayed_at text,
    replay_result text
);

-- append-only and hash-chained: hash = sha256(prev_hash || canonical(row)).
create table audit_log (
    seq integer primary key,
    at text not null,                        -- RFC 3339 text on both backends: it is hashed as written
    actor text not null,
    action text not null,
    subject text not null,
    detail text not null,
    prev_hash text not null,
    hash text not null
);

-- every authority matrix ever loaded, by content hash: a decision is always
-- authorised against the matrix it was created under, even after a reload
-- or a restart with a newer file.
create table matrix_versions (
    hash text primary key,
    source text not null,
    content text not null,
    loaded_at text not null
);
