-- Assets by IP address. The IPs were only a JSON list in assets.ips, so an
-- alert carrying an address (Suricata, GuardDuty, Falco, ...) made its
-- enrichment read the whole inventory with `ips like '%"10.0.4.17"%'`.
-- assets.ips stays the record as imported; this is its index, rewritten
-- with each import of the asset.
create table asset_ips (
    ip text not null,                        -- lower case
    hostname text not null references assets (hostname),
    primary key (ip, hostname)
);
insert into asset_ips (ip, hostname)
select distinct lower(trim(j)), a.hostname from assets a, json_array_elements_text(a.ips::json) j
where trim(j) <> '';
