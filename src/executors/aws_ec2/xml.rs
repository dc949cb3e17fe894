//! A minimal XML reader for EC2 Query API answers: it lists every leaf
//! element as (`path/of/element`, text). EC2 answers are small, flat and
//! attribute-free where it matters, so this avoids a full XML dependency.
//! It does not handle CDATA or DTDs (EC2 sends neither).

/// Every leaf element with its slash-joined path and unescaped text.
pub fn leaves(xml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    let mut leaf = false;
    while let Some(lt) = rest.find('<') {
        let before = &rest[..lt];
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |e| &rest[e + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            if leaf {
                let mut path = stack.join("/");
                if path.is_empty() {
                    path = name.trim().to_owned();
                }
                out.push((path, unescape(before.trim())));
            }
            stack.pop();
            leaf = false;
        } else if tag.ends_with('/') {
            leaf = false;
        } else {
            let name = tag.split_whitespace().next().unwrap_or("");
            stack.push(name.to_owned());
            leaf = true;
        }
    }
    out
}

/// Texts of the leaves whose path ends with `suffix`.
pub fn values<'a>(leaves: &'a [(String, String)], suffix: &str) -> Vec<&'a str> {
    leaves
        .iter()
        .filter(|(p, _)| p == suffix || p.ends_with(&format!("/{suffix}")))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_groups_are_told_apart_from_interface_groups() {
        let xml = r#"<?xml version="1.0"?><R><reservationSet><item><groupSet/><instancesSet><item>
            <instanceId>i-1</instanceId><groupSet><item><groupId>sg-a</groupId><groupName>a &amp; b</groupName></item></groupSet>
            <networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><groupSet><item><groupId>sg-x</groupId></item></groupSet></item></networkInterfaceSet>
            </item></instancesSet></item></reservationSet></R>"#;
        let l = leaves(xml);
        assert_eq!(
            values(&l, "instancesSet/item/groupSet/item/groupId"),
            vec!["sg-a"]
        );
        assert_eq!(values(&l, "groupName"), vec!["a & b"]);
        assert_eq!(
            values(
                &l,
                "instancesSet/item/networkInterfaceSet/item/networkInterfaceId"
            ),
            vec!["eni-1"]
        );
    }
}
