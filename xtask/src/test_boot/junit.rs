//! JUnit XML for `test-boot`'s results (`out/test-boot/junit.xml`), so CI systems show
//! the cases: one `<testcase>` per result line, failures with their error and the tail
//! of the console log. Written by hand: a handful of escaped fields needs no XML crate.

/// One result line of `test-boot`.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub seconds: f64,
    pub failure: Option<Failure>,
}

/// Why a case failed: `message` is the error (an attribute, shown as the title),
/// `details` the rest (command line, log path, the console's last lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    pub details: String,
}

impl Case {
    pub fn new(name: &str, seconds: f64, failure: Option<Failure>) -> Case {
        Case { name: name.to_owned(), seconds, failure }
    }
}

/// The suite `name` as a JUnit XML document: a `<testsuite>` with the counts and the
/// sum of the cases' times, each case with `classname` = `name`. The harness has no
/// skipped cases and no errors outside a case (a build that fails ends the run before
/// any case), so those counts are 0.
pub fn render(name: &str, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    // Not `sum()`: the sum of no f64 is -0.0, printed `-0.000`.
    let time = cases.iter().fold(0.0, |t, c| t + c.seconds.max(0.0));
    let name = escape(name, true);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">\n",
        cases.len()
    ));
    for case in cases {
        let open = format!("  <testcase name=\"{}\" classname=\"{name}\" time=\"{:.3}\"", escape(&case.name, true), case.seconds);
        match &case.failure {
            None => xml.push_str(&format!("{open}/>\n")),
            Some(f) => {
                xml.push_str(&format!("{open}>\n"));
                xml.push_str(&format!("    <failure message=\"{}\">{}</failure>\n", escape(&f.message, true), escape(&f.details, false)));
                xml.push_str("  </testcase>\n");
            }
        }
    }
    xml.push_str("</testsuite>\n");
    xml
}

/// `text` as XML 1.0 character data (`attribute`: inside double quotes). The markup
/// characters become entities; characters XML 1.0 forbids (C0 controls other than tab,
/// newline and carriage return, U+FFFE, U+FFFF), which serial consoles print, become
/// U+FFFD. In attributes tab, newline and carriage return are character references,
/// which parsers keep (a literal one would be normalised to a space); in text only the
/// carriage return, which parsers would drop.
pub fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' | '\t' if attribute => out.push_str(&format!("&#{};", c as u32)),
            '\n' | '\t' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"c\" 'd'", true), "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;");
        assert_eq!(escape("a<b>&\"c\" 'd'", false), "a&lt;b&gt;&amp;\"c\" 'd'");
        assert_eq!(escape("x\ny\tz\r", true), "x&#10;y&#9;z&#13;");
        assert_eq!(escape("x\ny\tz\r", false), "x\ny\tz&#13;");
        assert_eq!(escape("\u{1b}[0m\u{0}\u{7}\u{8}\u{ffff}ok\u{e9}", false), "\u{fffd}[0m\u{fffd}\u{fffd}\u{fffd}\u{fffd}ok\u{e9}");
        assert_eq!(escape("]]>", false), "]]&gt;");
    }

    #[test]
    fn counts_and_a_failing_case() {
        let cases = [
            Case::new("seabios-cd", 4.25, None),
            Case::new(
                "ovmf-<disk>",
                10.5,
                Some(Failure { message: "timed out waiting for \"login\"".into(), details: "log: out/x.log\n\u{1b}[2Jboot & die\r".into() }),
            ),
            Case::new("noop-rebuild", 0.0004, None),
        ];
        let xml = render("test-boot", &cases);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"test-boot\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"14.750\">\n"), "{xml}");
        assert!(xml.contains("  <testcase name=\"seabios-cd\" classname=\"test-boot\" time=\"4.250\"/>\n"), "{xml}");
        assert!(xml.contains(
            "  <testcase name=\"ovmf-&lt;disk&gt;\" classname=\"test-boot\" time=\"10.500\">\n    <failure message=\"timed out waiting for &quot;login&quot;\">log: out/x.log\n\u{fffd}[2Jboot &amp; die&#13;</failure>\n  </testcase>\n"
        ), "{xml}");
        assert!(xml.contains("name=\"noop-rebuild\" classname=\"test-boot\" time=\"0.000\"/>"), "{xml}");
        assert!(xml.ends_with("</testsuite>\n"));
    }

    #[test]
    fn empty_suite() {
        let xml = render("test-boot", &[]);
        assert!(xml.ends_with("tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"0.000\">\n</testsuite>\n"), "{xml}");
    }

    /// The document parses as XML (python3's expat, as CI report readers would), with
    /// every control character a serial console can print in a failure.
    #[test]
    fn output_is_well_formed_xml() {
        if !kiln_util::host::require(&["python3"], &[], "apt-get install python3") {
            return;
        }
        let nasty: String = (0u32..0x80).filter_map(char::from_u32).chain(['\u{fffe}', '\u{ffff}', '\u{1F600}']).collect();
        let cases = [Case::new(&nasty, 1.0, Some(Failure { message: nasty.clone(), details: nasty.clone() }))];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        std::fs::write(&path, render(&nasty, &cases)).unwrap();
        let script = "import xml.dom.minidom,sys; d=xml.dom.minidom.parse(sys.argv[1]); f=d.getElementsByTagName('failure')[0]; print(len(f.getAttribute('message')), len(f.firstChild.data))";
        let out = duct::cmd!("python3", "-c", script, &path).read().expect("python3 parses the document");
        // Every character survives, as itself or U+FFFD (in the text, \r too).
        let n = nasty.chars().count();
        assert_eq!(out.trim(), format!("{n} {n}"));
    }
}
