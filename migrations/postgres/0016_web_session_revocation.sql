-- sign-out ends a web console session on the server (issue 13). a session is
-- a signed token (jwt) that stays valid until it expires, so a cookie copied
-- before sign-out (a shared machine, a stolen laptop, malware) kept working
-- for hours. signing out now records the session's id here, and every
-- console request refuses a session whose id is listed. a row is only needed
-- until the session would have expired anyway: `exp` (unix seconds, the
-- token's own) lets sign-outs prune the rows past it.
create table revoked_sessions (
    jti text primary key,
    person text not null,
    exp bigint not null,
    revoked_at timestamptz not null
);
create index revoked_sessions_exp on revoked_sessions (exp);
