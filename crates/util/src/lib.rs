//! Small pieces shared by Kiln's build crates: files written atomically, locks on cache
//! entries, leftovers of dead runs, long commands run with their output logged, and
//! dates for reproducible outputs.

pub mod atomic;
pub mod host;
pub mod lock;
pub mod run;
pub mod stale;
pub mod stamp;

pub use atomic::{copy_atomic, tmp_name, write_atomic};
pub use lock::{lock_path, Lock, Mode};
pub use run::run_logged;
pub use stamp::Stamped;

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
