//! The size chart: where an image's bytes go.

use crate::svg::{esc, human_bytes, ink_on, num, percent, text_width, truncate, Doc, PALETTE};

const WIDTH: f64 = 960.0;
const PAD: f64 = 16.0;
const STACK: f64 = 34.0;
const ROW: f64 = 26.0;
/// The size and share columns, right of the bars.
const SIZE_COL: f64 = 170.0;

/// An SVG chart of `parts` (name, bytes), which together make the whole, titled `title`.
///
/// At the top, one bar of the whole with a segment per part (in the given order, each
/// labelled with its name and share where it fits); under it, a row per part: its
/// colour, name, a bar to scale with the largest part, its size (KiB or MiB) and its
/// share of the total; then the total. Parts of 0 bytes get no row, and are named in a
/// note at the end. A part keeps the colour of its place in `parts`, so charts of
/// images that list the same parts in the same order colour them alike.
pub fn size_chart(title: &str, parts: &[(String, u64)]) -> String {
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let shown: Vec<(usize, &str, u64)> =
        parts.iter().enumerate().filter(|(_, p)| p.1 > 0).map(|(i, p)| (i, p.0.as_str(), p.1)).collect();
    let fill = |i: usize| PALETTE[i % PALETTE.len()];

    let mut doc = Doc::new();
    doc.text(PAD, 30.0, 18.0, "start", r#"font-weight="600""#, title);
    let subtitle = format!("{} in all ({} bytes)", human_bytes(total), group_digits(total));
    doc.text(PAD, 50.0, 12.0, "start", r##"fill="#57606a""##, &subtitle);

    // The whole, as one stacked bar.
    let (x0, x1, y) = (PAD, WIDTH - PAD, 64.0);
    let mut x = x0;
    for &(i, name, bytes) in &shown {
        let w = (x1 - x0) * bytes as f64 / total as f64;
        let share = percent(bytes, total);
        doc.push(format!(
            r#"<rect x="{}" y="{}" width="{}" height="{STACK}" fill="{}"><title>{}</title></rect>"#,
            num(x),
            num(y),
            num(w),
            fill(i),
            esc(&format!("{name}: {} ({share})", human_bytes(bytes)))
        ));
        let label = [format!("{name} {share}"), share.clone()].into_iter().find(|l| text_width(l, 11.0) <= w - 8.0);
        if let Some(label) = label {
            let extra = format!(r#"fill="{}" pointer-events="none""#, ink_on(fill(i)));
            doc.text(x + w / 2.0, y + STACK / 2.0 + 4.0, 11.0, "middle", &extra, &label);
        }
        x += w;
    }
    if total == 0 {
        doc.push(format!(
            r##"<rect x="{}" y="{}" width="{}" height="{STACK}" fill="none" stroke="#d0d7de"/>"##,
            num(x0),
            num(y),
            num(x1 - x0)
        ));
    }

    // A row per part: swatch, name, bar to scale with the largest, size, share.
    let names: Vec<String> = shown.iter().map(|p| truncate(p.1, 32)).collect();
    let name_px = names.iter().map(|n| text_width(n, 13.0)).fold(60.0, f64::max);
    let bar_x = PAD + 18.0 + name_px + 12.0;
    let bar_max = WIDTH - PAD - SIZE_COL - 12.0 - bar_x;
    let largest = shown.iter().map(|p| p.2).max().unwrap_or(1).max(1);
    let mut y = y + STACK + 30.0;
    for (&(i, _, bytes), name) in shown.iter().zip(&names) {
        doc.swatch(PAD, y, fill(i));
        doc.text(PAD + 18.0, y, 13.0, "start", "", name);
        let w = (bar_max * bytes as f64 / largest as f64).max(1.0);
        doc.push(format!(
            r#"<rect x="{}" y="{}" width="{}" height="14" rx="2" fill="{}"/>"#,
            num(bar_x),
            num(y - 11.0),
            num(w),
            fill(i)
        ));
        size_columns(&mut doc, y, "", &human_bytes(bytes), &percent(bytes, total));
        y += ROW;
    }
    doc.push(format!(
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d0d7de"/>"##,
        num(PAD),
        num(y - 16.0),
        num(WIDTH - PAD),
        num(y - 16.0)
    ));
    doc.text(PAD + 18.0, y, 13.0, "start", r#"font-weight="600""#, "total");
    let all = if total == 0 { "0%" } else { "100%" };
    size_columns(&mut doc, y, r#"font-weight="600""#, &human_bytes(total), all);
    let absent: Vec<&str> = parts.iter().filter(|p| p.1 == 0).map(|p| p.0.as_str()).collect();
    if !absent.is_empty() {
        y += ROW;
        let note = format!("none in this image: {}", absent.join(", "));
        doc.text(PAD, y, 12.0, "start", r##"fill="#57606a""##, &note);
    }
    doc.finish(WIDTH, y + 18.0, title)
}

/// The size and share columns of a row, right-aligned.
fn size_columns(doc: &mut Doc, y: f64, extra: &str, size: &str, share: &str) {
    doc.text(WIDTH - PAD - 64.0, y, 13.0, "end", extra, size);
    doc.text(WIDTH - PAD, y, 13.0, "end", &format!(r##"fill="#57606a" {extra}"##), share);
}

/// `1234567` → `1,234,567`.
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The minimal ISO's numbers as `cargo xtask size` printed them.
    fn minimal() -> Vec<(String, u64)> {
        [
            ("kernel", 1_205_248u64),
            ("initramfs", 243_436),
            ("squashfs root", 0),
            ("BIOS core image", 120_832),
            ("EFI image", 178_176),
            ("GRUB files", 108_544),
            ("ISO metadata", 102_400),
            ("padding", 1_300),
        ]
        .into_iter()
        .map(|(n, b)| (n.to_string(), b))
        .collect()
    }

    #[test]
    fn rows_sizes_and_shares() {
        let svg = size_chart("minimal.iso", &minimal());
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert!(svg.contains(">1.87 MiB in all (1,959,936 bytes)</text>"));
        // The table's own figures: kernel 1.15 MiB 61.5%, initramfs 237.7 KiB 12.4%,
        // padding 1.3 KiB 0.1%.
        assert!(svg.contains(">1.15 MiB</text>") && svg.contains(">61.5%</text>"));
        assert!(svg.contains(">237.7 KiB</text>") && svg.contains(">12.4%</text>"));
        assert!(svg.contains(">1.3 KiB</text>") && svg.contains(">0.1%</text>"));
        assert!(svg.contains(">kernel 61.5%</text>"), "the stacked bar's label");
        assert!(svg.contains(">100%</text>") && svg.contains(">total</text>"));
        // Seven parts shown: a segment, a swatch and a bar each, plus the background.
        assert_eq!(svg.matches("<rect ").count(), 1 + 7 * 3);
        assert!(svg.contains(">none in this image: squashfs root</text>"));
        assert!(!svg.contains(">squashfs root</text>"));
    }

    #[test]
    fn colours_follow_the_place_in_the_list() {
        let svg = size_chart("t", &minimal());
        // squashfs (place 2) is absent; the BIOS core image keeps place 3's colour.
        assert!(svg.contains(&format!(r#"fill="{}"><title>BIOS core image"#, PALETTE[3])));
    }

    #[test]
    fn text_is_escaped() {
        let svg = size_chart("a <b> & \"c\"", &[("<kernel>".to_string(), 10)]);
        assert!(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(svg.contains("&lt;kernel&gt;") && !svg.contains("<kernel>"));
    }

    #[test]
    fn nothing_at_all() {
        let svg = size_chart("empty", &[]);
        assert!(svg.contains("0 B in all (0 bytes)") && !svg.contains("NaN"));
        let svg = size_chart("zeros", &[("kernel".to_string(), 0)]);
        assert!(svg.contains(">0%</text>") && !svg.contains("NaN"));
    }

    #[test]
    fn digits_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(5_529_600), "5,529,600");
    }
}
