//! Kiln's build steps. Each step is a function from inputs to an output file, cached by
//! a hash of its inputs and written atomically; `xtask` only wires them together.

pub mod busybox;
pub mod cache;
pub mod host;
pub mod kconfig;
pub mod kernel;
pub mod run;

use anyhow::{Context, Result};

/// The first line of `TOOL --version`: part of every cache key that the tool affects.
pub fn tool_version(tool: &str) -> Result<String> {
    let out = duct::cmd!(tool, "--version")
        .stderr_to_stdout()
        .unchecked()
        .read()
        .with_context(|| format!("running {tool} --version (is it installed? run `cargo xtask deps`)"))?;
    Ok(out.lines().next().unwrap_or_default().to_string())
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time (the proleptic Gregorian calendar).
pub fn utc_date(epoch: u64) -> String {
    let days = (epoch / 86400) as i64;
    let secs = epoch % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc_date(1_735_689_600), "2025-01-01 00:00:00 UTC");
        assert_eq!(super::utc_date(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
    }
}
