//! What outside text may not do in a chat message.
//!
//! Alert titles, host and user names, evidence, vendor errors and reasons
//! typed by clickers come from outside cordon: a SIEM, a vendor API, an
//! attacker who names a workstation. Rendered as they are, they would be
//! markup: a mention that pages a whole channel (`<!channel>`, `@everyone`),
//! a disguised link next to cordon's real buttons (`<https://evil|Approve>`,
//! `[Approve](https://evil)`), a backtick that closes the code span around
//! a host name so the rest of the line is read as formatting, or a line
//! break that starts a fake "Approved by …" line.
//!
//! Each platform's renderer passes its template context through
//! [`escape_context`] with its own rule ([`slack`] or [`discord`]). Both
//! first make the value one line of plain characters ([`one_line`]). Text
//! cordon itself adds (mentions of the people asked to act, console links)
//! is put into the context after escaping, so it stays markup.

/// Keys whose values are cordon's own words (decision states, event kinds,
/// verbs, modes), never outside text. They are left as they are, so that
/// templates can still turn `pending_approval` into "pending approval"
/// (Discord would otherwise carry `pending\_approval` into that filter).
const OWN_WORDS: &[&str] = &["state", "kind", "verb", "done", "decided_verb", "mode"];

/// U+02CB MODIFIER LETTER GRAVE ACCENT, shown instead of a backtick.
/// Slack has no escape for a backtick (and no escaping works inside a code
/// span on either platform), so a backtick in outside text cannot be kept:
/// it is replaced by this look-alike, which closes nothing.
pub const BACKTICK_LOOKALIKE: char = '\u{02CB}';

/// One line of plain characters: control characters (line breaks, tabs)
/// become spaces, bidirectional overrides (which can make text read
/// backwards) are dropped, backticks become [`BACKTICK_LOOKALIKE`].
pub fn one_line(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .map(|c| match c {
            '`' => BACKTICK_LOOKALIKE,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// Slack mrkdwn: `&`, `<` and `>` as entities (Slack's documented escape;
/// it holds inside code spans too, where Slack still reads `<…>`), on one
/// line, without backticks.
pub fn slack(s: &str) -> String {
    one_line(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The characters Discord markdown gives a meaning anywhere in a line:
/// emphasis, strike-through, spoilers, mentions and `<t:…>` / `<#…>`
/// markup, masked links, and the escape character itself.
const DISCORD_SPECIAL: &[char] = &['\\', '*', '_', '~', '|', '<', '>', '[', ']', '@'];

/// The characters that mean something at the start of a line only
/// (headings, lists, block quotes); a value may be placed there by a
/// template, so its first character is escaped when it is one of them.
const DISCORD_LINE_START: &[char] = &['#', '-', '+', '>'];

/// Discord markdown: every special character backslash-escaped (Discord
/// renders `\*` as `*`), on one line, without backticks. Inside a code
/// span backslashes are shown as they are: templates put outside values
/// into code spans with the `code` filter ([`discord_code`]) instead.
pub fn discord(s: &str) -> String {
    let line = one_line(s);
    let mut out = String::with_capacity(line.len() + 8);
    for (i, c) in line.chars().enumerate() {
        if DISCORD_SPECIAL.contains(&c) || (i == 0 && DISCORD_LINE_START.contains(&c)) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `code` filter of Discord templates: a value escaped by [`discord`]
/// as a code span. The backslashes come off again (inside a code span
/// nothing is formatted, and they would be shown); the value holds no
/// backtick, so the span cannot be closed early.
pub fn discord_code(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len() + 2);
    out.push('`');
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '`' => out.push(BACKTICK_LOOKALIKE),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

/// Escapes every string of a template context with `rule`, except the
/// values of [`OWN_WORDS`] keys.
pub fn escape_context<S: serde::Serialize>(ctx: S, rule: fn(&str) -> String) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value, rule: fn(&str) -> String) {
        match v {
            serde_json::Value::String(s) => *s = rule(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, rule)),
            serde_json::Value::Object(o) => {
                for (k, v) in o.iter_mut() {
                    if !(OWN_WORDS.contains(&k.as_str()) && v.is_string()) {
                        walk(v, rule);
                    }
                }
            }
            _ => {}
        }
    }
    let mut v = serde_json::to_value(ctx).unwrap_or_default();
    walk(&mut v, rule);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_values_cannot_mention_link_or_close_a_code_span() {
        assert_eq!(
            slack("ws-1<!channel>`x & <https://e|Approve>"),
            "ws-1&lt;!channel&gt;ˋx &amp; &lt;https://e|Approve&gt;"
        );
        assert_eq!(slack("a\nb\r\tc"), "a b  c");
        assert_eq!(slack("evil\u{202E}txt.exe"), "eviltxt.exe");
    }

    #[test]
    fn discord_values_are_backslash_escaped_and_code_spans_unescape_them() {
        let e = discord("ws-1@everyone<@&42>`x [Approve](https://e) **b** \\");
        assert_eq!(
            e,
            "ws-1\\@everyone\\<\\@&42\\>ˋx \\[Approve\\](https://e) \\*\\*b\\*\\* \\\\"
        );
        assert_eq!(discord("# head"), "\\# head");
        assert_eq!(discord("- item"), "\\- item");
        assert_eq!(discord("db-prod-01"), "db-prod-01");
        assert_eq!(discord_code(&discord("ws_1`x\\y")), "`ws_1ˋx\\y`");
    }

    #[test]
    fn own_words_are_left_alone_and_everything_else_is_escaped() {
        let v = escape_context(
            serde_json::json!({"state": "pending_approval", "d": {"target": "a_b", "kind": "x_y"},
                               "list": ["<x>"], "n": 3}),
            discord,
        );
        assert_eq!(v["state"], "pending_approval");
        assert_eq!(v["d"]["kind"], "x_y");
        assert_eq!(v["d"]["target"], "a\\_b");
        assert_eq!(v["list"][0], "\\<x\\>");
        assert_eq!(v["n"], 3);
    }
}
