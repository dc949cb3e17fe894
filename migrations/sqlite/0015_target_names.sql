-- One canonical target (DESIGN §3a): every name an asset or an identity is
-- known by, so that an alert naming a host by its FQDN, its address or a
-- vendor id (a CrowdStrike AID, an EC2 instance id, ...) finds the same
-- inventory record as one naming it by host name, and the matrix judges the
-- record, not the spelling. Two records answering one name is ambiguous:
-- cordon then treats the target as unknown.
--
-- asset_names replaces asset_ips (addresses are names like any other).
create table asset_names (
    name text not null,                      -- lower case
    hostname text not null,                  -- assets.hostname
    kind text not null,                      -- hostname | short | ip | a vendor id attribute
    primary key (name, hostname)
);
create index asset_names_host on asset_names (hostname);

insert or ignore into asset_names (name, hostname, kind)
select hostname, hostname, 'hostname' from assets;
insert or ignore into asset_names (name, hostname, kind)
select substr(hostname, 1, instr(hostname, '.') - 1), hostname, 'short' from assets
where instr(hostname, '.') > 1;
insert or ignore into asset_names (name, hostname, kind)
select ip, hostname, 'ip' from asset_ips;
insert or ignore into asset_names (name, hostname, kind)
select lower(trim(j.value)), a.hostname, j.key from assets a, json_each(a.attributes) j
where j.key in ('crowdstrike_aid', 'mde_machine_id', 's1_agent_id', 'ec2_instance_id')
  and trim(j.value) <> '';
drop table asset_ips;

create table identity_names (
    name text not null,                      -- lower case
    username text not null,                  -- identities.username
    kind text not null,                      -- username | email | a vendor id attribute
    primary key (name, username)
);
create index identity_names_user on identity_names (username);

insert or ignore into identity_names (name, username, kind)
select username, username, 'username' from identities;
insert or ignore into identity_names (name, username, kind)
select lower(trim(email)), username, 'email' from identities
where email is not null and trim(email) <> '';
insert or ignore into identity_names (name, username, kind)
select lower(trim(j.value)), i.username, j.key from identities i, json_each(i.attributes) j
where j.key in ('okta_user_id', 'entra_user_id') and trim(j.value) <> '';

-- The cool-down guard asks for the last stop of one action on one target;
-- the rate guard counts an action's recent decisions.
create index decisions_target on decisions (target_value, action);
create index decisions_action_time on decisions (action, created_at);
