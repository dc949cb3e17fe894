-- Whether a decision took a path that runs without a human approval:
-- auto, veto_window, or an approval that executes on its timeout. The rate
-- guard counts these (DESIGN §3b); the mode alone cannot tell an approval
-- that executes by silence from one that expires.
alter table decisions add column automatic boolean not null default false;
update decisions set automatic = true where mode in ('auto', 'veto_window');
