//! An SVG chart of the exo/linux ratios: one bar per figure on a log scale
//! centred on 1 (left of the line: exo faster; right: slower).

use super::Report;
use std::fmt::Write as _;

const ROW: f64 = 22.0;
const LABEL_W: f64 = 170.0;
const PLOT_W: f64 = 480.0;
/// The axis spans ratios from 1/SPAN to SPAN.
const SPAN: f64 = 100.0;

fn x_of(ratio: f64) -> f64 {
    let r = ratio.clamp(1.0 / SPAN, SPAN);
    LABEL_W + PLOT_W / 2.0 * (1.0 + r.log10() / SPAN.log10())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart as an SVG document.
pub fn svg(report: &Report) -> String {
    let height = 60.0 + ROW * report.figures.len() as f64;
    let width = LABEL_W + PLOT_W + 80.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="18" font-size="14">exo / Linux, same job, same run (engine: {}{}; {})</text>"#,
        esc(&report.engine),
        if report.icount { ", instructions" } else { "" },
        esc(&report.machine)
    );
    for (i, tick) in [0.01, 0.1, 1.0, 10.0, 100.0].iter().enumerate() {
        let x = x_of(*tick);
        let stroke = if i == 2 { "black" } else { "#ccc" };
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="30" x2="{x:.1}" y2="{:.1}" stroke="{stroke}"/>"#,
            height - 20.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{tick}x</text>"#,
            height - 6.0
        );
    }
    for (i, f) in report.figures.iter().enumerate() {
        let y = 36.0 + ROW * i as f64;
        let (x0, x1) = (x_of(1.0), x_of(f.ratio));
        let (left, w) = if x1 < x0 {
            (x1, x0 - x1)
        } else {
            (x0, x1 - x0)
        };
        let color = if f.ratio <= 1.0 { "#2a9d8f" } else { "#e76f51" };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL_W - 6.0,
            y + 13.0,
            esc(&if f.same_engine() {
                f.name.clone()
            } else {
                format!("{} (vs {})", f.name, f.linux_engine)
            })
        );
        let _ = writeln!(
            s,
            r#"<rect x="{left:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
            w.max(1.0),
            ROW - 6.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{:.2}</text>"#,
            LABEL_W + PLOT_W + 6.0,
            y + 13.0,
            f.ratio
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Figure;

    #[test]
    fn bars_go_left_when_exo_is_faster() {
        assert!(x_of(0.5) < x_of(1.0) && x_of(2.0) > x_of(1.0));
        assert_eq!(x_of(1e9), x_of(SPAN), "clamped");
        let r = Report {
            engine: "qemu".into(),
            machine: "m<1>".into(),
            icount: false,
            figures: vec![Figure::new("a", "ns", 1.0, 2.0, "j")],
        };
        let s = svg(&r);
        assert!(
            s.starts_with("<svg")
                && s.contains("m&lt;1&gt;")
                && s.contains("0.50")
                && s.contains("#2a9d8f")
        );
    }
}
