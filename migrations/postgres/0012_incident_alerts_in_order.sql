-- An incident's alerts are read first-N in id order (the incident view, each
-- chat sync) and paged by id (GET /v1/incidents/{id}/alerts): one index
-- range scan in order instead of every alert of the incident then a sort.
create index alerts_incident_order on alerts (incident_id, id);
drop index alerts_incident;
