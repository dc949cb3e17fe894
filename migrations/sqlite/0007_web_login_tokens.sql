-- one-time sign-in links for the web console (issue 7). A link carries a
-- signed token with a random id; the first sign-in inserts that id here, and
-- the primary key makes a second use of the same link fail: links are used once.
create table login_tokens (
    jti text primary key,
    person text not null,
    expires_at text not null,                -- kept so old rows can be pruned
    used_at text not null
);
