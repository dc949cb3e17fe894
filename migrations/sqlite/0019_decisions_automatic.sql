-- Whether a decision took a path that runs without a human approval:
-- auto, veto_window, or an approval that executes on its timeout. The rate
-- guard counts these (DESIGN §3b); the mode alone cannot tell an approval
-- that executes by silence from one that expires.
alter table decisions add column automatic integer not null default 0;
update decisions set automatic = 1 where mode in ('auto', 'veto_window');
