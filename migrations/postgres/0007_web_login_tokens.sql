-- one-time sign-in links for the web console (issue 7). A link carries a
-- signed token with a random id; the first sign-in inserts that id here, and
-- the primary key makes a second use of the same link fail: links are used once.
create table login_tokens (
    jti text primary key,
    person text not null,
    expires_at timestamptz not null,         -- kept so old rows can be pruned
    used_at timestamptz not null
);

-- reports read a period of decisions with their incidents' first chat post;
-- without these a 10,000-decision report scans chat_messages per decision.
create index decisions_created on decisions (created_at);
create index incidents_opened on incidents (opened_at);
create index chat_messages_incident on chat_messages (incident_id, created_at);
