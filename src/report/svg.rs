//! Inline SVG charts for reports, written by hand (a few rectangles do not
//! need a plotting crate). Readable without colour: every bar carries its
//! value as text, series differ by hatching as well as by shade, and each
//! chart has a `<title>` and an `aria-label` for screen readers.

use crate::templates::format_ms;
use std::fmt::Write;

/// Escapes text for XML content and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One bar: label and value in milliseconds (`None` = no data).
pub struct Bar {
    pub label: String,
    pub series: Vec<Option<i64>>,
}

/// A horizontal grouped bar chart of durations. `series` names each value
/// of a bar (e.g. `median`, `p90`); the first is solid, the second hatched.
pub fn bars(title: &str, series: &[&str], data: &[Bar]) -> String {
    let row_h = 18 * series.len().max(1) as i64 + 10;
    let label_w = 150;
    let plot_w = 420;
    let h = 40 + row_h * data.len() as i64 + 24;
    let max = data
        .iter()
        .flat_map(|b| b.series.iter().flatten())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{t}" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><title>{t}</title>
<defs><pattern id="hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#333" stroke-width="3"/></pattern></defs>
<text x="0" y="16" font-weight="bold" font-size="14">{t}</text>"##,
        t = esc(title),
        w = label_w + plot_w + 110,
        h = h
    );
    // Legend: name plus swatch, so the series are told apart by pattern.
    let mut lx = label_w;
    for (i, name) in series.iter().enumerate() {
        let fill = if i == 0 { "#3b5b92" } else { "url(#hatch)" };
        let _ = write!(
            s,
            r##"<rect x="{lx}" y="24" width="12" height="10" fill="{fill}" stroke="#333"/><text x="{}" y="33" font-size="11">{}</text>"##,
            lx + 16,
            esc(name)
        );
        lx += 90;
    }
    for (i, b) in data.iter().enumerate() {
        let y = 44 + row_h * i as i64;
        let _ = write!(
            s,
            r##"<text x="0" y="{}" font-size="12">{}</text>"##,
            y + 13,
            esc(&b.label)
        );
        for (j, v) in b.series.iter().enumerate() {
            let by = y + 18 * j as i64;
            let fill = if j == 0 { "#3b5b92" } else { "url(#hatch)" };
            match v {
                Some(v) => {
                    let w = (*v as i128 * plot_w as i128 / max as i128).max(1) as i64;
                    let _ = write!(
                        s,
                        r##"<rect x="{label_w}" y="{by}" width="{w}" height="14" fill="{fill}" stroke="#333"><title>{} {}: {}</title></rect><text x="{}" y="{}" font-size="11">{}</text>"##,
                        esc(&b.label),
                        esc(series.get(j).copied().unwrap_or("")),
                        format_ms(*v),
                        label_w + w + 4,
                        by + 11,
                        format_ms(*v)
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        r##"<text x="{}" y="{}" font-size="11" font-style="italic">no data</text>"##,
                        label_w + 4,
                        by + 11
                    );
                }
            }
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bar_carries_its_value_as_text() {
        let svg = bars(
            "Time to contain <by path>",
            &["median", "p90"],
            &[Bar {
                label: "approval".into(),
                series: vec![Some(90_000), None],
            }],
        );
        assert!(svg.contains("1m 30s"));
        assert!(svg.contains("no data"));
        assert!(svg.contains("&lt;by path&gt;"));
        assert!(svg.contains("role=\"img\""));
    }
}
