-- A rate guard's breaker closed early by a person holding one of its
-- `reset` roles (DESIGN §3b): automatic executions before the newest reset
-- of an action no longer count against its guard. Kept for the audit trail.
create table guard_resets (
    id integer primary key autoincrement,
    action text not null,
    at text not null,
    person text not null
);
create index guard_resets_action on guard_resets (action, at);
