//! Templates (minijinja): chat message texts and web pages.
//!
//! Operators may change any text without rebuilding: a file with the same
//! name in the configured templates folder (default `templates/`) wins over
//! the default embedded in the binary. Each adapter registers its defaults
//! in [`DEFAULTS`]; a test renders every one of them.

use minijinja::Environment;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Built-in templates: (name, source). Names ending in `.html` are
/// auto-escaped.
pub const DEFAULTS: &[(&str, &str)] = &[];

/// The template environment. Cheap to clone.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub message: String,
}

impl Templates {
    /// Loads the defaults plus `extra` (adapters' own lists), letting files
    /// in `dir` override any of them by name.
    pub fn load(
        dir: Option<&Path>,
        extra: &[&[(&'static str, &'static str)]],
    ) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        env.add_filter("ms", format_ms);
        env.add_filter("dt", format_dt);
        for list in std::iter::once(DEFAULTS).chain(extra.iter().copied()) {
            for (name, src) in list {
                let src = match dir.map(|d| d.join(name)) {
                    Some(p) if p.is_file() => {
                        std::fs::read_to_string(&p).map_err(|e| TemplateError {
                            name: p.display().to_string(),
                            message: e.to_string(),
                        })?
                    }
                    _ => (*src).to_owned(),
                };
                env.add_template_owned(*name, src)
                    .map_err(|e| TemplateError {
                        name: (*name).to_owned(),
                        message: e.to_string(),
                    })?;
            }
        }
        Ok(Templates { env: Arc::new(env) })
    }

    /// Adds a filter of an adapter's own (a platform's escaping rules,
    /// such as the `code` filter of Discord templates).
    pub fn with_filter(mut self, name: &'static str, f: fn(minijinja::Value) -> String) -> Self {
        Arc::make_mut(&mut self.env).add_filter(name, f);
        self
    }

    /// Embedded defaults only.
    pub fn builtin(extra: &[&[(&'static str, &'static str)]]) -> Result<Templates, TemplateError> {
        Templates::load(None, extra)
    }

    pub fn render<S: serde::Serialize>(&self, name: &str, ctx: S) -> Result<String, TemplateError> {
        let t = self.env.get_template(name).map_err(|e| TemplateError {
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        t.render(minijinja::value::Serde(&ctx))
            .map_err(|e| TemplateError {
                name: name.to_owned(),
                message: format!("{e:#}"),
            })
    }

    pub fn dir_default() -> PathBuf {
        PathBuf::from("templates")
    }
}

/// `{{ 93500 | ms }}` → `1m 33s`: durations in milliseconds for people.
pub fn format_ms(v: i64) -> String {
    let s = v / 1000;
    match s {
        _ if v < 1000 => format!("{v} ms"),
        _ if s < 60 => format!("{s}s"),
        _ if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        _ if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `{{ "2026-11-23T07:46:54.9073Z" | dt }}` → `2026-11-23 07:46:54 UTC`:
/// stored times for people (whole seconds, always UTC). Anything that is
/// not a time is shown as it is.
fn format_dt(v: String) -> String {
    match chrono::DateTime::parse_from_rfc3339(&v) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_the_templates_folder_overrides_the_embedded_default() {
        const LIST: &[(&str, &str)] = &[("hello.txt", "hello {{ name }}")];
        let t = Templates::builtin(&[LIST]).expect("load");
        assert_eq!(
            t.render("hello.txt", serde_json::json!({"name": "soc"}))
                .expect("render"),
            "hello soc"
        );
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("hello.txt"), "hi {{ name }}!").expect("write");
        let t = Templates::load(Some(dir.path()), &[LIST]).expect("load");
        assert_eq!(
            t.render("hello.txt", serde_json::json!({"name": "soc"}))
                .expect("render"),
            "hi soc!"
        );
    }

    #[test]
    fn milliseconds_read_as_durations() {
        assert_eq!(format_ms(250), "250 ms");
        assert_eq!(format_ms(93_500), "1m 33s");
        assert_eq!(format_ms(3_600_000 * 26), "1d 2h");
        assert_eq!(
            format_dt("2026-11-23T07:46:54.907320306Z".into()),
            "2026-11-23 07:46:54 UTC"
        );
    }
}
