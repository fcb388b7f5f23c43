//! The boot chart: one horizontal bar per boot cell, its phases as coloured segments on
//! a time axis in seconds since QEMU started.

use crate::svg::{esc, human_secs, ink_on, num, text_width, truncate, Doc, PALETTE};
use crate::timeline::{Timeline, FIRMWARE, KERNEL, KILN_BOOT, KILN_INIT, PHASE_ORDER, SHELL_READY, SPAWN_SHELL};

const WIDTH: f64 = 960.0;
const PAD: f64 = 16.0;
const BAR: f64 = 26.0;
const CAPTION_LINE: f64 = 15.0;
const ROW_GAP: f64 = 14.0;
/// Room right of the plot for the longest bar's total (`12.34 s`).
const TOTAL_ROOM: f64 = 60.0;
/// The widest the cell names' column gets; longer names are cut.
const MAX_NAME_PX: f64 = 220.0;

/// The phase a name starts with: `kernel` for `kernel+mounts`; `firmware+loader` is one
/// phase whose name has a `+`.
fn first_part(name: &str) -> &str {
    if name.starts_with(FIRMWARE) {
        FIRMWARE
    } else {
        name.split('+').next().unwrap_or(name)
    }
}

/// The colour of a phase: its first part's (`kernel+mounts` has the kernel's colour).
fn colour(name: &str) -> &'static str {
    match first_part(name) {
        FIRMWARE => "#999999",
        KERNEL => PALETTE[0],
        KILN_BOOT => PALETTE[4],
        "mounts" | KILN_INIT => PALETTE[2],
        "onboot" => PALETTE[1],
        "services" => PALETTE[3],
        SPAWN_SHELL => PALETTE[6],
        SHELL_READY => PALETTE[5],
        // A stage kiln-init may add later: a colour of its own, the same on every bar.
        other => ["#8C564B", "#17BECF", "#BCBD22", "#7F7F7F"][other.bytes().map(usize::from).sum::<usize>() % 4],
    }
}

/// Where a phase goes in the legend: its first part's place in [`PHASE_ORDER`]
/// (`kiln-init`, all of kiln-init's stages, takes the first stage's).
fn rank(name: &str) -> usize {
    match first_part(name) {
        KILN_INIT => 3,
        f => PHASE_ORDER.iter().position(|p| *p == f).unwrap_or(PHASE_ORDER.len()),
    }
}

/// A round step for about `span / 8` per tick: 1, 2 or 5 times a power of ten.
fn tick_step(span: f64) -> f64 {
    let raw = (span / 8.0).max(1e-3);
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    p * if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// `parts` joined with ` · ` into lines no wider than `max` px at `size`. Measured
/// less generously than labels: a caption line has the chart's right edge to spare.
fn wrap(parts: &[String], size: f64, max: f64) -> Vec<String> {
    let width = |s: &str| text_width(s, size) * 0.92;
    let mut lines: Vec<String> = Vec::new();
    for part in parts {
        match lines.last_mut() {
            Some(line) if width(line) + width(part) + width(" · ") <= max => {
                line.push_str(" · ");
                line.push_str(part);
            }
            _ => lines.push(part.clone()),
        }
    }
    lines
}

/// An SVG chart of `timelines`, one bar per cell in the given order, titled `title`.
///
/// Each bar runs from QEMU's start (0 s) to the cell's last phase; each phase is a
/// segment in its colour (the same phase has the same colour on every bar), labelled
/// inside with its name and duration where they fit, and listed with its duration in
/// a caption under the bar so that slivers (a 3 ms stage) can be read too. The bar's
/// total is at its end; the legend lists the phases present in boot order; hovering
/// a segment shows its exact times.
pub fn boot_chart(title: &str, timelines: &[Timeline]) -> String {
    let mut doc = Doc::new();
    doc.text(PAD, 30.0, 18.0, "start", r#"font-weight="600""#, title);
    doc.text(PAD, 50.0, 12.0, "start", r##"fill="#57606a""##, "boot phases per cell, seconds since QEMU started");

    // Legend: the phases present, in boot order, wrapped to the width.
    let mut present: Vec<&str> = Vec::new();
    for p in timelines.iter().flat_map(|t| &t.phases) {
        if !present.contains(&p.name.as_str()) {
            present.push(&p.name);
        }
    }
    present.sort_by_key(|n| rank(n));
    let (mut x, mut y) = (PAD, 76.0);
    for name in &present {
        let advance = 16.0 + text_width(name, 12.0) + 12.0;
        if x + advance > WIDTH - PAD && x > PAD {
            x = PAD;
            y += 20.0;
        }
        doc.swatch(x, y, colour(name));
        doc.text(x + 16.0, y, 12.0, "start", "", name);
        x += advance;
    }
    let top = y + 22.0;

    // The plot: names' column, then time from `left` to `right`.
    let names: Vec<String> = timelines.iter().map(|t| truncate(&t.cell, 28)).collect();
    let name_px = names.iter().map(|n| text_width(n, 13.0)).fold(40.0, f64::max).min(MAX_NAME_PX);
    let (left, right) = (PAD + name_px + 12.0, WIDTH - PAD - TOTAL_ROOM);
    let max_end = timelines.iter().map(Timeline::end_s).fold(0.0, f64::max);
    let step = tick_step(if max_end > 0.0 { max_end } else { 1.0 });
    let tmax = (max_end / step).ceil().max(1.0) * step;
    let xs = |t: f64| left + t.clamp(0.0, tmax) / tmax * (right - left);

    // Rows first (into `rows`) to know where the axis goes; the grid is drawn under them.
    let mut rows = Doc::new();
    let mut y = top;
    for (t, name) in timelines.iter().zip(&names) {
        rows.push(format!(r#"<g><title>{}</title>"#, esc(&t.cell)));
        rows.text(left - 10.0, y + 17.5, 13.0, "end", "", name);
        rows.push("</g>");
        let mut caption = Vec::new();
        for p in &t.phases {
            let (x0, x1) = (xs(p.start_s), xs(p.end_s));
            let fill = colour(&p.name);
            let dur = human_secs(p.duration_s());
            let tip = format!("{}: {} {dur} ({:.3}–{:.3} s)", t.cell, p.name, p.start_s, p.end_s);
            rows.push(format!(
                r#"<rect x="{}" y="{}" width="{}" height="{BAR}" fill="{fill}"><title>{}</title></rect>"#,
                num(x0),
                num(y),
                num((x1 - x0).max(0.0)),
                esc(&tip)
            ));
            let room = x1 - x0 - 8.0;
            let label = [format!("{} {dur}", p.name), dur.clone()].into_iter().find(|l| text_width(l, 11.0) <= room);
            if let Some(label) = label {
                let extra = format!(r#"fill="{}" pointer-events="none""#, ink_on(fill));
                rows.text((x0 + x1) / 2.0, y + 17.0, 11.0, "middle", &extra, &label);
            }
            caption.push(format!("{} {dur}", p.name));
        }
        if let Some(last) = t.phases.last() {
            let total = human_secs(last.end_s);
            rows.text(xs(last.end_s) + 6.0, y + 17.5, 12.0, "start", r#"font-weight="600""#, &total);
        }
        let lines = wrap(&caption, 11.0, WIDTH - PAD - left);
        for (i, line) in lines.iter().enumerate() {
            let cy = y + BAR + 14.0 + i as f64 * CAPTION_LINE;
            rows.text(left, cy, 11.0, "start", r##"fill="#57606a""##, line);
        }
        y += BAR + 4.0 + lines.len() as f64 * CAPTION_LINE + ROW_GAP;
    }
    if timelines.is_empty() {
        rows.text(left, top + 18.0, 13.0, "start", r##"fill="#57606a""##, "no boots measured");
        y += BAR + ROW_GAP;
    }
    let axis_y = y;

    // Grid and axis.
    let ticks = (tmax / step).round() as usize;
    for i in 0..=ticks {
        let t = i as f64 * step;
        let x = num(xs(t));
        doc.push(format!(
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#d8dee4" stroke-width="1"/>"##,
            num(top - 6.0),
            num(axis_y)
        ));
        doc.push(format!(
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#57606a" stroke-width="1"/>"##,
            num(axis_y),
            num(axis_y + 5.0)
        ));
        let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
        let label = if i == 0 { "0".to_string() } else { format!("{t:.decimals$}") };
        doc.text(xs(t), axis_y + 18.0, 11.0, "middle", r##"fill="#57606a""##, &label);
    }
    doc.push(format!(
        r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#57606a" stroke-width="1"/>"##,
        num(left),
        num(right),
        y = num(axis_y)
    ));
    doc.text((left + right) / 2.0, axis_y + 36.0, 12.0, "middle", r##"fill="#57606a""##, "seconds since QEMU started");
    doc.body.push_str(&rows.body);
    doc.finish(WIDTH, axis_y + 50.0, title)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Phase;

    fn cell(name: &str, phases: &[(&str, f64, f64)]) -> Timeline {
        Timeline {
            cell: name.to_string(),
            phases: phases.iter().map(|(n, s, e)| Phase { name: n.to_string(), start_s: *s, end_s: *e }).collect(),
        }
    }

    fn sample() -> Vec<Timeline> {
        vec![
            cell(
                "seabios-cd",
                &[
                    (FIRMWARE, 0.0, 4.29),
                    ("kernel+mounts", 4.29, 5.61),
                    ("onboot", 5.61, 5.615),
                    ("services", 5.615, 5.615),
                    (SPAWN_SHELL, 5.615, 5.64),
                    (SHELL_READY, 5.64, 5.64),
                ],
            ),
            cell("ovmf-cd <&>", &[(FIRMWARE, 0.0, 15.8), ("kernel+mounts", 15.8, 17.0), (SHELL_READY, 17.0, 17.29)]),
        ]
    }

    #[test]
    fn a_bar_per_cell_a_segment_per_phase() {
        let svg = boot_chart("Kiln boot <minimal>", &sample());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect ").count(), 1 + 6 + 6 + 3, "background, legend, segments");
        // Every text is escaped; the raw title never appears.
        assert!(svg.contains("Kiln boot &lt;minimal&gt;"));
        assert!(svg.contains("ovmf-cd &lt;&amp;&gt;"));
        assert!(!svg.contains("<minimal>") && !svg.contains("<&>"));
        // Totals at the bars' ends, durations in the captions, the firmware's label inside.
        assert!(svg.contains(">5.64 s</text>") && svg.contains(">17.29 s</text>"));
        assert!(svg.contains("onboot 5 ms"));
        assert!(svg.contains(">firmware+loader 4.29 s</text>"));
        // Axis: 0 to 20 s by 5.
        assert!(svg.contains(">20</text>") && !svg.contains(">25</text>") && svg.contains(">seconds since QEMU started</text>"));
    }

    #[test]
    fn legend_in_boot_order_and_colours_shared() {
        let svg = boot_chart("t", &sample());
        let at = |s: &str| svg.find(&format!(">{s}</text>")).unwrap();
        assert!(at(FIRMWARE) < at("kernel+mounts") && at("kernel+mounts") < at("onboot"));
        assert!(at(SPAWN_SHELL) < at(SHELL_READY));
        assert_eq!(colour("kernel+mounts"), colour(KERNEL));
        assert_eq!(colour("kernel+kiln-boot"), colour(KERNEL));
        assert_ne!(colour(FIRMWARE), colour(KERNEL));
        assert_eq!(colour("firmware+loader"), "#999999");
        assert_eq!(colour("future-stage"), colour("future-stage"));
        assert_eq!(rank("future-stage"), PHASE_ORDER.len());
    }

    #[test]
    fn ticks_are_round() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(tick_step(5.64), 1.0));
        assert!(close(tick_step(17.29), 5.0));
        assert!(close(tick_step(0.4), 0.05));
        assert!(close(tick_step(100.0), 20.0));
    }

    #[test]
    fn empty_and_degenerate_inputs_still_make_a_chart() {
        let svg = boot_chart("none", &[]);
        assert!(svg.contains("no boots measured") && svg.ends_with("</svg>\n"));
        let svg = boot_chart("zero", &[cell("c", &[(KERNEL, 0.0, 0.0)]), cell("d", &[])]);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn captions_wrap() {
        let parts: Vec<String> = (0..12).map(|i| format!("phase-{i} 1.00 s")).collect();
        let lines = wrap(&parts, 11.0, 400.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| text_width(l, 11.0) * 0.92 <= 400.0));
        assert_eq!(lines.join(" · "), parts.join(" · "));
    }
}
