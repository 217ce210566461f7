//! A small SVG line-chart writer for the per-second series: concurrency
//! against its limits, throttles, and queue age over time.
//!
//! Written here rather than with plotters because plotters lays out text
//! with system fonts; SVG text needs none (the viewer renders it). The
//! output is deterministic text. This module draws; it never simulates.

use std::fmt::Write as _;

use crate::report::Series;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// A line to draw: a label and one value per second.
pub struct Line<'a> {
    pub label: &'a str,
    pub values: &'a [f64],
}

/// A chart of lines over seconds, with dashed horizontal limit lines.
pub fn line_chart(title: &str, y_label: &str, lines: &[Line<'_>], limits: &[(String, f64)]) -> String {
    let points = lines.iter().map(|l| l.values.len()).max().unwrap_or(0).max(2);
    let data_max = lines.iter().flat_map(|l| l.values.iter().copied()).fold(0.0, f64::max);
    // Limits far above the data would flatten it: show them only if within 4× the data.
    let shown_limits: Vec<&(String, f64)> =
        limits.iter().filter(|(_, v)| data_max == 0.0 || *v <= data_max * 4.0).collect();
    let y_max = nice_ceiling(data_max.max(shown_limits.iter().map(|(_, v)| *v).fold(0.0, f64::max)).max(1.0));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: f64| LEFT + plot_w * i / (points - 1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / y_max);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{}" y="22" font-size="16">{}</text>"#, LEFT, escape(title));
    // Axes and grid.
    for k in 0..=5 {
        let v = y_max * f64::from(k) / 5.0;
        let yy = y(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            format_number(v)
        );
    }
    let seconds = points - 1;
    let step = nice_ceiling(seconds as f64 / 8.0).max(1.0);
    let mut t = 0.0;
    while t <= seconds as f64 {
        let xx = x(t);
        let _ = writeln!(
            svg,
            r#"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + plot_h + 18.0,
            format_number(t)
        );
        t += step;
    }
    let _ =
        writeln!(svg, r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##);
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds since traffic began</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    // Limits, dashed.
    let mut legend = Vec::new();
    for (k, (label, value)) in shown_limits.iter().enumerate() {
        let colour = COLOURS[(lines.len() + k) % COLOURS.len()];
        let yy = y(*value);
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{colour}" stroke-dasharray="6 4"/>"#,
            LEFT + plot_w
        );
        legend.push((format!("{label} ({})", format_number(*value)), colour, true));
    }
    // Data lines.
    for (k, line) in lines.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let mut path = String::new();
        for (i, v) in line.values.iter().enumerate() {
            let _ = write!(path, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(i as f64), y(*v));
        }
        let _ = writeln!(svg, r#"<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#);
        legend.push((line.label.to_owned(), colour, false));
    }
    for (k, (label, colour, dashed)) in legend.iter().enumerate() {
        let yy = TOP + 10.0 + 18.0 * k as f64;
        let xx = LEFT + plot_w + 12.0;
        let dash = if *dashed { r#" stroke-dasharray="6 4""# } else { "" };
        let _ = writeln!(
            svg,
            r#"<line x1="{xx:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            xx + 20.0,
            xx + 26.0,
            yy + 4.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The standard plots of a run: file name and SVG text.
pub fn plots(series: &Series) -> Vec<(&'static str, String)> {
    let lines = |suffix: &str| -> Vec<Line<'_>> {
        series
            .columns
            .iter()
            .filter(|c| c.name.ends_with(suffix) && !c.name.starts_with("account."))
            .map(|c| Line { label: c.name.strip_suffix(suffix).unwrap_or(&c.name), values: &c.values })
            .collect()
    };
    let mut concurrency = lines(".concurrency");
    if let Some(account) = series.column("account.concurrency") {
        concurrency.push(Line { label: "account", values: &account.values });
    }
    let mut out = vec![
        (
            "concurrency.svg",
            line_chart(
                "Concurrency (peak per second) against limits",
                "concurrent executions",
                &concurrency,
                &series.concurrency_limits,
            ),
        ),
        ("throttles.svg", line_chart("Throttles per second", "throttles", &lines(".throttles"), &[])),
    ];
    let ages = lines(".oldest_age_s");
    if !ages.is_empty() {
        out.push((
            "queue-age.svg",
            line_chart("Age of the oldest message (ApproximateAgeOfOldestMessage)", "seconds", &ages, &[]),
        ));
        out.push(("queue-depth.svg", line_chart("Visible messages", "messages", &lines(".visible"), &[])));
    }
    let connections = lines(".connections");
    if !connections.is_empty() {
        out.push(("connections.svg", line_chart("Downstream connections in use", "connections", &connections, &[])));
    }
    out
}

/// The smallest of 1, 2, 5 × 10^k that is at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 0.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * magnitude >= v * (1.0 - 1e-12) {
            return m * magnitude;
        }
    }
    10.0 * magnitude
}

fn format_number(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_well_formed_svg_with_its_lines_limits_and_labels() {
        let values = [0.0, 10.0, 50.0, 40.0];
        let svg = line_chart(
            "Concurrency <test>",
            "executions",
            &[Line { label: "api", values: &values }],
            &[("api reserved".to_owned(), 50.0), ("account limit".to_owned(), 1_000.0)],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Concurrency &lt;test&gt;"));
        assert!(svg.contains("api reserved (50)"));
        assert!(!svg.contains("account limit"), "a limit 20× above the data is left out");
        assert_eq!(svg.matches("<path").count(), 1);
    }

    #[test]
    fn axis_ceilings_are_round_numbers() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(50.0), 50.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
    }
}
