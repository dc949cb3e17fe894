//! Playbooks: which alerts propose which actions, and strict parsing.

use cordon::domain::{
    ActionKind, ActionTarget, NewAlert, Observables, Severity, alert::AlertStatus,
};
use cordon::playbooks::{Playbooks, Proposal};

fn shipped() -> Playbooks {
    let text = std::fs::read_to_string("config/playbooks.toml").unwrap();
    Playbooks::parse("config/playbooks.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Default)]
struct A {
    format: &'static str,
    title: &'static str,
    rule: Option<&'static str>,
    severity: Option<Severity>,
    tags: &'static [&'static str],
    hosts: &'static [&'static str],
    users: &'static [&'static str],
    source_ips: &'static [&'static str],
    cloud: &'static [&'static str],
}

impl A {
    fn build(&self) -> NewAlert {
        let mut o = Observables::default();
        self.hosts
            .iter()
            .for_each(|v| Observables::push(&mut o.hosts, v));
        self.users
            .iter()
            .for_each(|v| Observables::push(&mut o.users, v));
        self.source_ips
            .iter()
            .for_each(|v| Observables::push(&mut o.source_ips, v));
        self.cloud
            .iter()
            .for_each(|v| Observables::push(&mut o.cloud_resources, v));
        NewAlert {
            format: self.format.into(),
            source_id: None,
            fingerprint: "fp".into(),
            title: self.title.into(),
            description: None,
            severity: self.severity.unwrap_or(Severity::High),
            source_severity: None,
            detected_at: None,
            status: AlertStatus::Firing,
            observables: o,
            tags: self.tags.iter().map(|t| t.to_string()).collect(),
            rule: self.rule.map(str::to_owned),
            raw: serde_json::json!({}),
        }
    }
}

fn summary(p: &[Proposal]) -> Vec<String> {
    p.iter()
        .map(|p| format!("{} {} ({})", p.action, p.target, p.playbook))
        .collect()
}

#[test]
fn the_shipped_playbooks_propose_the_expected_actions() {
    let pb = shipped();
    let cases: Vec<(&str, A, Vec<&str>)> = vec![
        (
            "crowdstrike ransomware isolates the host and stops the user",
            A {
                format: "crowdstrike",
                title: "Ransomware",
                severity: Some(Severity::Critical),
                hosts: &["db-prod-01"],
                users: &["postgres"],
                ..A::default()
            },
            vec![
                "isolate_host host:db-prod-01 (edr-ransomware)",
                "disable_user user:postgres (edr-ransomware)",
                "revoke_sessions user:postgres (edr-ransomware)",
            ],
        ),
        (
            "ransomware at medium severity proposes nothing",
            A {
                format: "crowdstrike",
                title: "Ransomware",
                severity: Some(Severity::Medium),
                hosts: &["ws-0142"],
                ..A::default()
            },
            vec![],
        ),
        (
            "defender credential dump isolates the host",
            A {
                format: "defender",
                title: "Suspicious credential dump from LSASS",
                hosts: &["ws-0142.corp.example"],
                users: &["jdoe"],
                source_ips: &["203.0.113.9"],
                ..A::default()
            },
            vec!["isolate_host host:ws-0142.corp.example (edr-malware)"],
        ),
        (
            "wazuh 5712 blocks the attacker",
            A {
                format: "wazuh",
                title: "5712 sshd: brute force",
                rule: Some("5712"),
                severity: Some(Severity::Medium),
                hosts: &["bastion-01"],
                users: &["admin"],
                source_ips: &["203.0.113.9"],
                ..A::default()
            },
            vec!["block_ip ip:203.0.113.9 (wazuh-ssh-brute-force)"],
        ),
        (
            "wazuh 5501 login session proposes nothing",
            A {
                format: "wazuh",
                title: "5501 Login session opened.",
                rule: Some("5501"),
                severity: Some(Severity::Info),
                hosts: &["bastion-01"],
                users: &["jdoe"],
                ..A::default()
            },
            vec![],
        ),
        (
            "guardduty SSH brute force blocks the source",
            A {
                format: "guardduty",
                title: "203.0.113.9 is performing SSH brute force attacks",
                rule: Some("UnauthorizedAccess:EC2/SSHBruteForce"),
                severity: Some(Severity::Medium),
                source_ips: &["203.0.113.9"],
                cloud: &["i-0abc123def4567890"],
                ..A::default()
            },
            vec!["block_ip ip:203.0.113.9 (guardduty-ssh-rdp-brute-force)"],
        ),
        (
            "guardduty instance credential exfiltration quarantines the instance",
            A {
                format: "guardduty",
                title: "Credentials for instance role app-role used from external IP address.",
                rule: Some("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"),
                severity: Some(Severity::Critical),
                users: &["app-role"],
                source_ips: &["198.51.100.200"],
                cloud: &["i-0abc123def4567890"],
                ..A::default()
            },
            vec![
                "quarantine_instance cloud:i-0abc123def4567890 (guardduty-ec2-compromise)",
                "block_ip ip:198.51.100.200 (guardduty-ec2-compromise)",
            ],
        ),
        (
            "chronicle impossible travel revokes, disables and blocks",
            A {
                format: "chronicle",
                title: "impossible_travel_login",
                severity: Some(Severity::Critical),
                hosts: &["ws-0142"],
                users: &["jdoe"],
                source_ips: &["203.0.113.9"],
                ..A::default()
            },
            vec![
                "revoke_sessions user:jdoe (suspicious-sign-in)",
                "disable_user user:jdoe (suspicious-sign-in)",
                "block_ip ip:203.0.113.9 (suspicious-sign-in)",
            ],
        ),
        (
            "a sign-in alert without a user proposes nothing",
            A {
                format: "sentinel",
                title: "Suspicious login",
                severity: Some(Severity::High),
                ..A::default()
            },
            vec![],
        ),
        (
            "falco C2 traffic isolates the node and blocks the C2",
            A {
                format: "falco",
                title: "Outbound Connection to C2 Servers",
                severity: Some(Severity::Critical),
                hosts: &["k8s-node-03"],
                users: &["www-data"],
                source_ips: &["198.51.100.23"],
                ..A::default()
            },
            vec![
                "isolate_host host:k8s-node-03 (falco-container-escape)",
                "block_ip ip:198.51.100.23 (falco-container-escape)",
            ],
        ),
        (
            "suricata exploit inbound blocks the source",
            A {
                format: "suricata",
                title: "ET EXPLOIT Possible Apache Struts RCE Inbound",
                source_ips: &["203.0.113.66"],
                ..A::default()
            },
            vec!["block_ip ip:203.0.113.66 (ids-inbound-attack)"],
        ),
        (
            "a T1486 tag on any format isolates every host, each once",
            A {
                format: "ocsf",
                title: "Files encrypted",
                severity: Some(Severity::Critical),
                tags: &["t1486"],
                hosts: &["fs-prod-02", "fs-prod-03"],
                ..A::default()
            },
            vec![
                "isolate_host host:fs-prod-02 (edr-ransomware-by-technique)",
                "isolate_host host:fs-prod-03 (edr-ransomware-by-technique)",
            ],
        ),
    ];
    for (what, a, want) in cases {
        assert_eq!(summary(&pb.propose(&a.build())), want, "{what}");
    }
}

const ONE: &str = r#"
[[playbooks]]
name = "p1"
match = { title = "(?i)malware", has = ["host"] }
actions = [ { action = "isolate_host", target = "host" } ]
"#;

#[test]
fn proposals_are_deduplicated_capped_and_stop_ends_the_evaluation() {
    let text = format!(
        "{ONE}\n[[playbooks]]\nname = \"p2\"\nmatch = {{ severity_at_least = \"high\" }}\n\
         actions = [ {{ action = \"isolate_host\", target = \"host\" }}, {{ action = \"disable_user\", target = \"user\" }} ]\nstop = true\n\
         [[playbooks]]\nname = \"p3\"\nmatch = {{ formats = [\"crowdstrike\"] }}\nactions = [ {{ action = \"block_ip\", target = \"source_ip\" }} ]\n"
    );
    let pb = Playbooks::parse("t.toml", &text).unwrap();
    let a = A {
        format: "crowdstrike",
        title: "Malware",
        hosts: &["h1", "h2", "h3", "h4", "h5", "h6"],
        users: &["u"],
        source_ips: &["203.0.113.1"],
        ..A::default()
    }
    .build();
    let p = pb.propose(&a);
    assert_eq!(
        p.iter()
            .filter(|p| p.action == ActionKind::IsolateHost)
            .count(),
        5
    );
    assert!(
        p.iter()
            .all(|p| p.action != ActionKind::IsolateHost || p.playbook == "p1")
    );
    assert!(p.contains(&Proposal {
        playbook: "p2".into(),
        action: ActionKind::DisableUser,
        target: ActionTarget::user("u"),
    }));
    assert!(
        p.iter().all(|p| p.action != ActionKind::BlockIp),
        "stop = true in p2"
    );
}

#[test]
fn bad_playbook_files_are_refused_with_file_line_playbook_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown key",
            "[[playbooks]]\nname = \"x\"\nmatch = { titel = \"a\" }\nactions = []\n",
            "t.toml:3",
        ),
        (
            "bad regex",
            "[[playbooks]]\nname = \"x\"\nmatch = { title = \"(unclosed\" }\nactions = [ { action = \"isolate_host\", target = \"host\" } ]\n",
            "t.toml:3: playbook #1 \"x\": match.title: bad regex",
        ),
        (
            "unknown action",
            "[[playbooks]]\nname = \"x\"\nmatch = { title = \"a\" }\nactions = [\n { action = \"isolate_hots\", target = \"host\" } ]\n",
            "t.toml:5: playbook #1 \"x\": action: `isolate_hots` is neither",
        ),
        (
            "unknown target",
            "[[playbooks]]\nname = \"x\"\nmatch = { title = \"a\" }\nactions = [ { action = \"isolate_host\", target = \"asset\" } ]\n",
            "t.toml:4: playbook #1 \"x\": target: `asset` is not a target",
        ),
        (
            "wrong target kind",
            "[[playbooks]]\nname = \"x\"\nmatch = { title = \"a\" }\nactions = [ { action = \"disable_user\", target = \"host\" } ]\n",
            "playbook #1 \"x\": target: `disable_user` cannot be aimed at `host`",
        ),
        (
            "empty match",
            "[[playbooks]]\nname = \"x\"\nmatch = {}\nactions = [ { action = \"isolate_host\", target = \"host\" } ]\n",
            "match: is empty",
        ),
        (
            "bad severity",
            "[[playbooks]]\nname = \"x\"\nmatch = { severity_at_least = \"urgent\" }\nactions = []\n",
            "t.toml:3",
        ),
        (
            "duplicate name",
            &format!("{ONE}{ONE}"),
            "playbook #2 \"p1\": name: is used by an earlier playbook",
        ),
        (
            "bad observable",
            "[[playbooks]]\nname = \"x\"\nmatch = { has = [\"hostname\"] }\nactions = [ { action = \"isolate_host\", target = \"host\" } ]\n",
            "match.has: `hostname` is not an observable kind",
        ),
    ];
    for (what, text, want) in cases {
        let err = Playbooks::parse("t.toml", text).unwrap_err().to_string();
        assert!(err.contains(want), "{what}: {err}");
    }
}

#[test]
fn custom_actions_are_accepted_only_when_the_matrix_defines_them() {
    let text = "[[playbooks]]\nname = \"x\"\nmatch = { title = \"a\" }\nactions = [ { action = \"snapshot_disk\", target = \"host\" } ]\n";
    assert!(Playbooks::parse("t.toml", text).is_err());
    let pb = Playbooks::parse_with_custom(
        "t.toml",
        text,
        &[ActionKind::Custom("snapshot_disk".into())],
    )
    .unwrap();
    let p = pb.propose(
        &A {
            format: "x",
            title: "a",
            hosts: &["h"],
            ..A::default()
        }
        .build(),
    );
    assert_eq!(summary(&p), vec!["snapshot_disk host:h (x)"]);
}
