//! Keeps the layering honest (STYLE.md): the engine orchestrates against
//! the store's and adapters' APIs but never speaks SQL or HTTP itself, and
//! only the composition root (`app.rs`) wires concrete chat adapters in.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut files);
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                if code.contains(word) {
                    bad.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    bad
}

#[test]
fn the_engine_speaks_no_sql_and_no_http() {
    let bad = offenders("src/engine", &["sqlx", "axum::", "reqwest::", "hyper::"]);
    assert!(
        bad.is_empty(),
        "the engine must go through the store and the adapters:\n{}",
        bad.join("\n")
    );
}

// domain/'s purity is checked inside the crate (src/domain/mod.rs tests).
