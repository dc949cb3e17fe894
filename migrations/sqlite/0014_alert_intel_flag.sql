-- Whether an alert's enrichment found threat-intel hits, as a column: the
-- bounded incident view reads the alerts with hits, and finding them in
-- the enrichment JSON read every alert of the incident on every chat sync.
alter table alerts add column intel_hit boolean not null default false;
update alerts set intel_hit = true
where enrichment is not null and enrichment not like '%"intel_hits":[]%';
create index alerts_intel on alerts (incident_id, id) where intel_hit;
