//! The small pieces both charts are made of: escaping, number formats, text widths,
//! colours and the document frame.

use std::fmt::Write;

/// The font every text uses: the system's sans-serif, as GitHub's own pages do.
pub(crate) const FONT: &str = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";

/// Okabe and Ito's colour-blind-safe palette (without black), then two greys.
pub(crate) const PALETTE: [&str; 9] =
    ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999", "#666666"];

/// `s` as SVG character data or an attribute value (either quote style).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 allows no other control characters, not even as references.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most one decimal, without a trailing `.0`.
pub(crate) fn num(x: f64) -> String {
    let x = if x.is_finite() { (x * 10.0).round() / 10.0 } else { 0.0 };
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// A byte count as people read it: `512 B`, `12.5 KiB`, `3.27 MiB`, `1.20 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.2} MiB", b / (KIB * KIB))
    } else {
        format!("{:.2} GiB", b / (KIB * KIB * KIB))
    }
}

/// A duration as people read it: `12 ms` below a second, else `1.27 s`.
pub fn human_secs(s: f64) -> String {
    if !s.is_finite() {
        "?".to_string()
    } else if s.abs() < 0.9995 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// A share of a whole: `62.4%`, `<0.1%` for a sliver, `0%` for nothing.
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if part == 0 || whole == 0 {
        return "0%".to_string();
    }
    let p = 100.0 * part as f64 / whole as f64;
    if p < 0.05 {
        "<0.1%".to_string()
    } else {
        format!("{p:.1}%")
    }
}

/// About how wide `text` is at `size` px in a sans-serif font. Generous on purpose: a
/// label that is thought to fit must fit in every browser's font.
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// `text` cut to `max` characters, with an ellipsis if it was longer.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Black or white, whichever reads better on `fill` (`#RRGGBB`).
pub(crate) fn ink_on(fill: &str) -> &'static str {
    let hex = fill.trim_start_matches('#');
    let c = |i: usize| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0) as f64 / 255.0;
    // Relative luminance (sRGB, WCAG), then the better contrast of black or white.
    let lin = |v: f64| if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) };
    let l = 0.2126 * lin(c(0)) + 0.7152 * lin(c(2)) + 0.0722 * lin(c(4));
    if (l + 0.05) / 0.05 > 1.05 / (l + 0.05) {
        "#000000"
    } else {
        "#ffffff"
    }
}

/// An SVG document being written: the frame (size, white background so it reads in
/// dark mode too, the font) and a body appended with `push`.
pub(crate) struct Doc {
    pub body: String,
}

impl Doc {
    pub fn new() -> Doc {
        Doc { body: String::new() }
    }

    /// One element; `line` is appended as is (the caller escapes text).
    pub fn push(&mut self, line: impl AsRef<str>) {
        self.body.push_str("  ");
        self.body.push_str(line.as_ref());
        self.body.push('\n');
    }

    /// A text element. `anchor`: `start`, `middle` or `end`; `extra`: more attributes.
    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, extra: &str, text: &str) {
        let mut s = format!(r#"<text x="{}" y="{}" font-size="{}""#, num(x), num(y), num(size));
        if anchor != "start" {
            let _ = write!(s, r#" text-anchor="{anchor}""#);
        }
        if !extra.is_empty() {
            s.push(' ');
            s.push_str(extra);
        }
        let _ = write!(s, ">{}</text>", esc(text));
        self.push(s);
    }

    /// A legend's colour swatch: a 12 px rounded square whose bottom is 2 px below the
    /// text baseline `y`.
    pub fn swatch(&mut self, x: f64, y: f64, fill: &str) {
        self.push(format!(r#"<rect x="{}" y="{}" width="12" height="12" rx="2" fill="{fill}"/>"#, num(x), num(y - 10.0)));
    }

    /// The whole document, `width` × `height` px, titled `title` (shown by browsers
    /// and read by screen readers).
    pub fn finish(self, width: f64, height: f64, title: &str) -> String {
        let (w, h) = (num(width), num(height));
        format!(
            concat!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" "#,
                r##"font-family="{font}" fill="#24292f" role="img">"##,
                "\n  <title>{title}</title>\n",
                r##"  <rect width="100%" height="100%" fill="#ffffff"/>"##,
                "\n{body}</svg>\n"
            ),
            w = w,
            h = h,
            font = esc(FONT),
            title = esc(title),
            body = self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(esc(r#"a<b>&"c"'d'"#), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
        assert_eq!(esc("x\u{1b}[0m"), "x\u{FFFD}[0m");
        assert_eq!(esc("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(-0.04), "-0");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.00 MiB");
        assert_eq!(human_bytes(5 << 30), "5.00 GiB");
        assert_eq!(human_secs(0.012), "12 ms");
        assert_eq!(human_secs(0.9996), "1.00 s");
        assert_eq!(human_secs(4.7), "4.70 s");
        assert_eq!(human_secs(f64::NAN), "?");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 10_000), "<0.1%");
        assert_eq!(percent(0, 10), "0%");
        assert_eq!(percent(5, 0), "0%");
    }

    #[test]
    fn ink_contrasts_with_the_fill() {
        assert_eq!(ink_on("#0072B2"), "#ffffff");
        assert_eq!(ink_on("#F0E442"), "#000000");
        assert_eq!(ink_on("#E69F00"), "#000000");
        assert_eq!(ink_on("#ffffff"), "#000000");
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("äöü", 3), "äöü");
    }
}
