//! Every real sample payload in `../shared/samples/alerts/` parses to the
//! values its README lists, and `detect()` recognises its format.
//!
//! The table below is written by hand from the README (not generated from the
//! parser's output). Where cordon deliberately differs from the README's
//! column, the row says why. A file in the folder without a row fails the
//! test, so new samples are noticed.

use cordon::domain::Severity;
use cordon::ingest::{self, Format, GenericMapping};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Which observable list the README's "source IP" lands in.
#[derive(Clone, Copy)]
enum Ip {
    /// `source_ips`: the remote / attacker side (what `block_ip` blocks).
    Remote(&'static str),
    /// `ips`: the host's own address, which the README lists as "source IP"
    /// for some formats but which must never be blocked as an attacker.
    Own(&'static str),
}

struct Row {
    dir: &'static str,
    file: &'static str,
    /// How many alerts the file holds; `index` is the one the README describes.
    count: usize,
    index: usize,
    severity: Severity,
    source_severity: Option<&'static str>,
    title: &'static str,
    /// Found in `hosts` or `cloud_resources`.
    asset: Option<&'static str>,
    /// `None` means no user observable at all.
    user: Option<&'static str>,
    ip: Option<Ip>,
    /// RFC 3339 (naive = UTC) or epoch milliseconds, as the README writes it.
    detected: Option<&'static str>,
    source_id: Option<&'static str>,
}

fn format_of(dir: &str) -> Format {
    let name = match dir {
        "elastic_security" => "elastic",
        "microsoft_defender" => "defender",
        "microsoft_sentinel" => "sentinel",
        "google_chronicle" => "chronicle",
        other => other,
    };
    match name.parse() {
        Ok(f) => f,
        Err(e) => panic!("sample folder `{dir}` maps to no format: {e:?}"),
    }
}

#[rustfmt::skip]
fn table() -> Vec<Row> {
    use Ip::*;
    use Severity::*;
    vec![
        // Alertmanager: the README's dedup column is the groupKey, which names
        // the *group*; an alert's own id is `fingerprint`, absent in these
        // payloads, so source_id is None and the label-hash fingerprint is used.
        Row { dir: "alertmanager", file: "alertmonitor_icmp_ping_failed_firing.json", count: 3, index: 0, severity: High, source_severity: Some("major"), title: "ICMP ping failed", asset: Some("172.29.254.30"), user: None, ip: None, detected: Some("2019-09-27T16:27:56.612666101Z"), source_id: None },
        Row { dir: "alertmanager", file: "alertmonitor_icmp_ping_failed_resolved.json", count: 3, index: 0, severity: High, source_severity: Some("major"), title: "ICMP ping failed", asset: Some("172.29.254.30"), user: None, ip: None, detected: Some("2019-09-27T16:27:56.612666101Z"), source_id: None },
        Row { dir: "alertmanager", file: "msteams_high_memory_load_warning.json", count: 1, index: 0, severity: Medium, source_severity: Some("warning"), title: "high_memory_load", asset: Some("instance-with-hyphen_and_underscore"), user: None, ip: None, detected: Some("2018-03-07T06:33:21.873077559-05:00"), source_id: None },
        // CrowdStrike: the README's "source IP" is LocalIP, the host's own address.
        Row { dir: "crowdstrike", file: "detection_summary_legacy_ngav_low_elastichost.json", count: 1, index: 0, severity: Low, source_severity: Some("2/Low"), title: "NGAV", asset: Some("ELASTICHOST"), user: Some("ELASTICUSER"), ip: Some(Own("89.160.20.112")), detected: Some("1686845212400"), source_id: Some("detect::id::test") },
        Row { dir: "crowdstrike", file: "epp_detection_summary_known_malware_high_linux-vm.json", count: 1, index: 0, severity: High, source_severity: Some("70/High"), title: "Known Malware", asset: Some("linux-vm"), user: Some("azureuser"), ip: Some(Own("172.17.0.1")), detected: Some("1686845212400"), source_id: Some("44be50f58ccfcfcfcfcfcfcfcffc:ind:c8d1292a8a904216aa25ab728f4b45fd:11111111111-2222-3333333") },
        Row { dir: "crowdstrike", file: "epp_detection_summary_pup_low_desktop1111.json", count: 1, index: 0, severity: Low, source_severity: Some("30/Low"), title: "NGAV", asset: Some("DESKTOP1111"), user: Some("USER11111"), ip: Some(Own("81.2.69.144")), detected: Some("1686845212400"), source_id: Some("44be50f58ccfcfcfcfcfcfcfcffc:ind:c8d1292a8a904216aa25ab728f4b45fd:11111111111-2222-3333333") },
        Row { dir: "elastic_security", file: "kibana_8.1.0_threat_match_low_security-linux-1.json", count: 1, index: 0, severity: Low, source_severity: Some("low/21"), title: "threat-match-rule", asset: Some("security-linux-1"), user: None, ip: None, detected: Some("2022-03-19T02:47:57.376Z"), source_id: Some("30a75fe46d3dbdfab55982036f77a8d60e2d1112e96f277c3b8c22f9bb57817a") },
        Row { dir: "elastic_security", file: "kibana_8.8.0_endpoint_malware_medium_user1.json", count: 1, index: 0, severity: Medium, source_severity: Some("medium/47"), title: "Endpoint Security", asset: Some("Host-fwarau82er"), user: Some("user1"), ip: None, detected: Some("2023-04-29T07:17:32.103Z"), source_id: Some("eabbdefc23da981f2b74ab58b82622a97bb9878caa11bc914e2adfacc94780f1") },
        // Falco: no uuid in the first two → no source_id, derived fingerprint.
        Row { dir: "falco", file: "elastic_read_sensitive_file_untrusted_warning.json", count: 1, index: 0, severity: Medium, source_severity: Some("Warning"), title: "Read sensitive file untrusted", asset: Some("97ade2b595f0"), user: Some("root"), ip: None, detected: Some("2024-05-07T18:54:19.341081180Z"), source_id: None },
        Row { dir: "falco", file: "elastic_system_user_interactive_informational.json", count: 1, index: 0, severity: Info, source_severity: Some("Informational"), title: "System user interactive", asset: Some("97ade2b595f0"), user: Some("daemon"), ip: None, detected: Some("2024-05-07T18:54:20.008519431Z"), source_id: None },
        Row { dir: "falco", file: "ocsf_examples_kernel_module_injection_warning.json", count: 1, index: 0, severity: Medium, source_severity: Some("Warning"), title: "Linux Kernel Module Injection Detected", asset: Some("host0.local"), user: Some("user.name"), ip: None, detected: Some("2023-01-03T15:11:39.558068644Z"), source_id: Some("ec834826-90c1-458a-8eec-a014e7266754") },
        Row { dir: "google_chronicle", file: "elastic_secops_rule_detection_suspicious_user_login.json", count: 1, index: 0, severity: Medium, source_severity: Some("Medium"), title: "suspicious_USER_LOGIN_2", asset: Some("principal-hostname.example.com"), user: Some("jdoe"), ip: Some(Remote("216.160.83.56")), detected: Some("2025-02-05T09:00:00Z"), source_id: Some("de_865d9c87-6c5f-cfc1-2d41-aaee29499057") },
        // GuardDuty: EC2 instance ids and ASFF resource ids are cloud resources.
        Row { dir: "guardduty", file: "aws_samples_canary_ec2_stateless_sev5.json", count: 1, index: 0, severity: Medium, source_severity: Some("5"), title: "Canary:EC2/Stateless.IntegTest", asset: Some("i-05746eb48123455e0"), user: None, ip: Some(Remote("0.0.0.0")), detected: Some("2017-10-31T23:16:23.824Z"), source_id: Some("16afba5c5c43e07c9e3e5e2e544e95df") },
        Row { dir: "guardduty", file: "aws_samples_recon_iamuser_malicious_ip_sev5.json", count: 1, index: 0, severity: Medium, source_severity: Some("5"), title: "Reconnaissance API GeneratedFindingAPIName was invoked from an IP address on a custom threat list.", asset: Some("i-99999999"), user: Some("GeneratedFindingUserName"), ip: Some(Remote("198.51.100.0")), detected: Some("2022-01-13T00:00:47.427Z"), source_id: Some("30bf285e52a1e405084ff6ec28e06e17") },
        // The README keeps the title's trailing space; titles are trimmed.
        Row { dir: "guardduty", file: "eventbridge_ssh_bruteforce_sev2.json", count: 1, index: 0, severity: Low, source_severity: Some("2"), title: "198.51.100.0 is performing SSH brute force attacks against i-99999999.", asset: Some("i-99999999"), user: None, ip: Some(Remote("198.51.100.0")), detected: Some("2018-05-11T14:56:39.976Z"), source_id: Some("02be5693b63eea1d67e6f321c6aee4f3") },
        Row { dir: "guardduty", file: "securityhub_asff_cloudtrail_logging_disabled_low.json", count: 1, index: 0, severity: Low, source_severity: Some("LOW"), title: "AWS CloudTrail trail arn:aws:cloudtrail:us-east-2:111111111111:trail/delete-me was disabled.", asset: Some("AWS::IAM::AccessKey:ASIATMJPC7EXAMPLE"), user: None, ip: Some(Remote("52.94.133.131")), detected: Some("2023-09-19T15:05:22.487Z"), source_id: Some("arn:aws:guardduty:us-east-2:111111111111:detector/1ac1bfceda6679698215d5d0EXAMPLE/finding/a6c556fcbc9bea427a19f8b787099a0b") },
        // Defender Graph: 1.1.1.1 is the device's own interface address.
        Row { dir: "microsoft_defender", file: "graph_alert_v2_low_hidden_file_execution.json", count: 1, index: 0, severity: Low, source_severity: Some("low"), title: "Suspicious execution of hidden file", asset: Some("tempDns"), user: Some("SYSTEM"), ip: Some(Own("1.1.1.1")), detected: Some("2021-04-27T12:19:27.7211305Z"), source_id: Some("da637578995287051192_756343937") },
        Row { dir: "microsoft_defender", file: "mde_alert_low_rundll32_temp123.json", count: 1, index: 0, severity: Low, source_severity: Some("Low"), title: "Low-reputation arbitrary code executed by signed executable", asset: Some("temp123.middleeast.corp.microsoft.com"), user: Some("temp123"), ip: None, detected: Some("2021-01-26T20:33:57.7220239Z"), source_id: Some("da637472900382838869_1364969609") },
        // Sentinel: the README's user is `properties.owner`, the analyst the
        // incident is assigned to; cordon never reports it as an involved user.
        Row { dir: "microsoft_sentinel", file: "arm_incident_get_high_closed.json", count: 1, index: 0, severity: High, source_severity: Some("High"), title: "My incident", asset: None, user: None, ip: None, detected: Some("2019-01-01T13:15:30Z"), source_id: Some("73e01a99-5cd7-4139-a149-9f2736ff2ab5") },
        Row { dir: "ocsf", file: "detection_finding_2004_prowler_acm_expiry.json", count: 1, index: 0, severity: High, source_severity: Some("4/High"), title: "Check if ACM Certificates are about to expire in specific days or less", asset: Some("arn:aws:acm:eu-west-1:111122223333:certificate/e4dc1386-8b4b-402c-9fed-03269ee10006"), user: None, ip: None, detected: Some("2024-10-04T09:49:02.698985"), source_id: Some("prowler-aws-acm_certificates_expiration_check-111122223333-eu-west-1-e4dc1386-8b4b-402c-9fed-03269ee10006") },
        Row { dir: "ocsf", file: "detection_finding_2004_securityhub_guardduty_cloudtrail.json", count: 1, index: 0, severity: Low, source_severity: Some("2/Low"), title: "AWS CloudTrail trail arn:aws:cloudtrail:us-east-2:111111111111:trail/delete-me was disabled.", asset: Some("AWS::IAM::AccessKey:ASIATMJPC7EXAMPLE"), user: None, ip: Some(Remote("52.94.133.131")), detected: Some("2023-09-19T11:05:22.487-04:00"), source_id: Some("arn:aws:guardduty:us-east-2:111111111111:detector/1ac1bfceda6679698215d5d0EXAMPLE/finding/a6c556fcbc9bea427a19f8b787099a0b") },
        Row { dir: "ocsf", file: "security_finding_2001_falco_kernel_module.json", count: 1, index: 0, severity: Medium, source_severity: Some("3/Medium"), title: "Linux Kernel Module Injection Detected", asset: Some("host0.local"), user: Some("user.name"), ip: None, detected: Some("1672758699558"), source_id: Some("ec834826-90c1-458a-8eec-a014e7266754") },
        Row { dir: "ocsf", file: "security_finding_2001_securityhub_pci_control.json", count: 1, index: 0, severity: Info, source_severity: Some("1/Informational"), title: "EC2.19 Security groups should not allow unrestricted access to ports with high risk", asset: Some("arn:aws:ec2:us-east-1:522536594833:security-group/sg-0daf160f08dfed499"), user: None, ip: None, detected: Some("1659636559100"), source_id: Some("test") },
        // SecurityScorecard: the infected device is the victim, not an attacker.
        Row { dir: "ocsf", file: "security_finding_2001_securityscorecard_malware_batch.json", count: 4, index: 0, severity: Info, source_severity: Some("1/Informational"), title: "Infection found on 1.183.190.110", asset: Some("1.183.190.110"), user: None, ip: Some(Own("1.183.190.110")), detected: Some("1668535199945"), source_id: Some("2b7908d7-4b72-4f65-afa0-09bdaea46ae3") },
        // Splunk: `search_name` is null in Splunk's own example; the sid names it.
        Row { dir: "splunk", file: "official_docs_example_mongod_count.json", count: 1, index: 0, severity: Medium, source_severity: None, title: "Splunk alert (sid scheduler_admin_search_W2_at_14232356_132)", asset: None, user: None, ip: None, detected: None, source_id: Some("scheduler_admin_search_W2_at_14232356_132") },
        // Suricata: the README lists src -> dest; for these outbound rules the
        // remote (blockable) side is the external destination.
        Row { dir: "suricata", file: "beats_et_policy_apt_ua_sev3.json", count: 1, index: 0, severity: Low, source_severity: Some("3"), title: "ET POLICY GNU/Linux APT User-Agent Outbound likely related to package management", asset: None, user: None, ip: Some(Remote("91.189.88.152")), detected: Some("2018-10-04T09:34:59.009897+0000"), source_id: Some("764842923400056:2013504:5") },
        Row { dir: "suricata", file: "beats_et_policy_curl_ua_sev2.json", count: 1, index: 0, severity: Medium, source_severity: Some("2"), title: "ET POLICY curl User-Agent Outbound", asset: None, user: None, ip: Some(Remote("93.184.216.34")), detected: Some("2018-10-03T14:42:44.836744+0000"), source_id: Some("2191386088856669:2013028:4") },
        Row { dir: "suricata", file: "suricata_docs_hunting_post_dotted_quad_sev2.json", count: 1, index: 0, severity: Medium, source_severity: Some("2"), title: "ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1", asset: None, user: None, ip: Some(Remote("209.53.113.5")), detected: Some("2017-04-07T22:24:37.251547+0100"), source_id: Some("586497171462735:2018358:10") },
        Row { dir: "wazuh", file: "indexer_doc_sshd_brute_force_5712_level10.json", count: 1, index: 0, severity: Medium, source_severity: Some("10"), title: "5712 sshd: brute force trying to get access to the system.", asset: Some("ip-10-0-0-246.us-west-1.compute.internal"), user: Some("admin"), ip: Some(Remote("89.163.153.41")), detected: Some("2020-04-13T18:19:18.169+0000"), source_id: Some("1586801958.207524") },
        Row { dir: "wazuh", file: "pam_login_failed_5503_level5_amazon.json", count: 1, index: 0, severity: Low, source_severity: Some("5"), title: "5503 PAM: User login failed.", asset: Some("Amazon"), user: Some("root"), ip: Some(Remote("222.186.30.76")), detected: Some("2020-04-17T00:04:41.137+0000"), source_id: Some("1587081881.16101") },
        Row { dir: "wazuh", file: "sshd_auth_failed_5716_level5_debian.json", count: 1, index: 0, severity: Low, source_severity: Some("5"), title: "5716 sshd: authentication failed.", asset: Some("Debian"), user: Some("root"), ip: Some(Remote("49.88.112.73")), detected: Some("2020-04-17T00:17:53.159+0000"), source_id: Some("1587082673.77856") },
        Row { dir: "wazuh", file: "sshd_nonexistent_user_5710_level5_ubuntu.json", count: 1, index: 0, severity: Low, source_severity: Some("5"), title: "5710 sshd: Attempt to login using a non-existent user", asset: Some("Ubuntu"), user: Some("admin"), ip: Some(Remote("123.20.109.89")), detected: Some("2020-04-17T00:18:20.659+0000"), source_id: Some("1587082700.80945") },
    ]
}

fn expected_time(s: &str) -> chrono::DateTime<chrono::Utc> {
    use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = s.parse().unwrap_or_default();
        return Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.with_timezone(&Utc);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return t.with_timezone(&Utc);
    }
    match NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        Ok(t) => Utc.from_utc_datetime(&t),
        Err(e) => panic!("bad expected time {s}: {e}"),
    }
}

#[test]
fn every_shared_sample_parses_to_the_values_its_readme_lists() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/alerts");
    if !root.is_dir() {
        println!("ingest_samples: ../shared/samples not found, skipping the sample pass");
        return;
    }
    let table = table();
    let covered: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.dir.to_owned(), r.file.to_owned()))
        .collect();

    // Every file on disk must have a row.
    let mut on_disk = BTreeSet::new();
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        if !dir.path().is_dir() {
            continue;
        }
        let dname = dir.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            on_disk.insert((dname.clone(), f.file_name().to_string_lossy().into_owned()));
        }
    }
    let missing: Vec<_> = on_disk.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "sample files without a row in the table: {missing:?}"
    );

    let mut failures = Vec::new();
    for r in &table {
        let id = format!("{}/{}", r.dir, r.file);
        let body = std::fs::read(root.join(r.dir).join(r.file)).unwrap();
        let format = format_of(r.dir);
        match ingest::detect(&body) {
            Ok(f) if f == format => {}
            other => failures.push(format!("{id}: detect() gave {other:?}, want {format}")),
        }
        let alerts = match ingest::parse(format, &body, &GenericMapping::default()) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{id}: parse failed: {e:?}"));
                continue;
            }
        };
        let mut check = |what: &str, ok: bool, detail: String| {
            if !ok {
                failures.push(format!("{id}: {what}: {detail}"));
            }
        };
        check(
            "count",
            alerts.len() == r.count,
            format!("{} alerts, want {}", alerts.len(), r.count),
        );
        let Some(a) = alerts.get(r.index) else {
            continue;
        };
        check("format", a.format == format.as_str(), a.format.clone());
        check(
            "severity",
            a.severity == r.severity,
            format!("{:?}, want {:?}", a.severity, r.severity),
        );
        check(
            "source_severity",
            a.source_severity.as_deref() == r.source_severity,
            format!("{:?}, want {:?}", a.source_severity, r.source_severity),
        );
        check("title", a.title == r.title, format!("{:?}", a.title));
        let o = &a.observables;
        if let Some(asset) = r.asset {
            check(
                "asset",
                o.hosts.iter().chain(&o.cloud_resources).any(|h| h == asset),
                format!("{:?} / {:?}, want {asset}", o.hosts, o.cloud_resources),
            );
        }
        match r.user {
            Some(u) => check(
                "user",
                o.users.iter().any(|x| x == u),
                format!("{:?}, want {u}", o.users),
            ),
            None => check(
                "user",
                o.users.is_empty(),
                format!("{:?}, want none", o.users),
            ),
        }
        match r.ip {
            Some(Ip::Remote(ip)) => check(
                "source ip",
                o.source_ips.first().map(String::as_str) == Some(ip),
                format!("{:?}, want {ip}", o.source_ips),
            ),
            Some(Ip::Own(ip)) => check(
                "own ip",
                o.ips.iter().any(|x| x == ip) && !o.source_ips.iter().any(|x| x == ip),
                format!(
                    "ips {:?} source_ips {:?}, want {ip} in ips only",
                    o.ips, o.source_ips
                ),
            ),
            None => check(
                "source ip",
                o.source_ips.is_empty(),
                format!("{:?}, want none", o.source_ips),
            ),
        }
        check(
            "detected_at",
            a.detected_at == r.detected.map(expected_time),
            format!("{:?}, want {:?}", a.detected_at, r.detected),
        );
        check(
            "source_id",
            a.source_id.as_deref() == r.source_id,
            format!("{:?}", a.source_id),
        );
        check(
            "fingerprint",
            a.fingerprint.len() == 32,
            a.fingerprint.clone(),
        );
        check("raw", a.raw.is_object(), "raw is not the record".into());
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn alertmanager_resolve_matches_its_firing_alert() {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/alerts/alertmanager");
    if !root.is_dir() {
        println!("ingest_samples: ../shared/samples not found, skipping the sample pass");
        return;
    }
    let parse = |f: &str| {
        let body = std::fs::read(root.join(f)).unwrap();
        ingest::parse(Format::Alertmanager, &body, &GenericMapping::default()).unwrap()
    };
    let firing = parse("alertmonitor_icmp_ping_failed_firing.json");
    let resolved = parse("alertmonitor_icmp_ping_failed_resolved.json");
    assert_eq!(firing.len(), resolved.len());
    for (f, r) in firing.iter().zip(&resolved) {
        assert_eq!(
            f.fingerprint, r.fingerprint,
            "a resolve must dedup onto its firing alert"
        );
        assert_eq!(f.status, cordon::domain::alert::AlertStatus::Firing);
        assert_eq!(r.status, cordon::domain::alert::AlertStatus::Resolved);
    }
    // Three different instances are three different alerts.
    let distinct: BTreeSet<_> = firing.iter().map(|a| &a.fingerprint).collect();
    assert_eq!(distinct.len(), 3);
}
