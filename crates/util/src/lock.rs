//! Advisory locks (flock(2)) on cache entries, so that two runs sharing one cache never
//! delete or rewrite a tree the other one uses.
//!
//! Each entry `DIR/NAME` has a lock file `DIR/NAME.lock`. A run that uses the entry holds
//! a shared lock; a run that creates, rebuilds or deletes it holds an exclusive one. The
//! lock file records who holds it (pid, command, since when), so a run that has to wait
//! says what it waits for. The kernel drops a lock when its holder dies, so a crashed or
//! interrupted run never leaves a stale lock behind.

use std::fs::{File, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Using the entry: any number of holders.
    Shared,
    /// Creating, rebuilding or deleting the entry: one holder, no shared ones.
    Exclusive,
}

/// A held lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
    mode: Mode,
}

/// `DIR/NAME` → `DIR/NAME.lock`.
pub fn lock_path(entry: &Path) -> PathBuf {
    let mut p = entry.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl Lock {
    /// Takes the lock at `path`, waiting as long as another run holds it; while it waits
    /// it prints `waiting for <holder> (lock PATH)` once.
    pub fn acquire(path: &Path, mode: Mode) -> io::Result<Lock> {
        Lock::acquire_with(path, mode, &mut |msg| eprintln!("  {msg}"))
    }

    /// [`Lock::acquire`], telling `on_wait` (instead of stderr) when it has to wait.
    pub fn acquire_with(path: &Path, mode: Mode, on_wait: &mut dyn FnMut(&str)) -> io::Result<Lock> {
        let mut told = false;
        loop {
            let file = open(path)?;
            match try_lock(&file, mode) {
                Ok(true) => {}
                Ok(false) => {
                    if !told {
                        on_wait(&format!("waiting for {} (lock {})", holder_of(&file), path.display()));
                        told = true;
                    }
                    lock(&file, mode).map_err(|e| with_path(e, "locking", path))?;
                }
                Err(e) => return Err(with_path(e, "locking", path)),
            }
            // The holder we waited for may have deleted the lock file with its entry: then
            // this lock guards nothing, and the next run would make a new file. Start over.
            if same_file(&file, path)? {
                let lock = Lock { file, path: path.to_owned(), mode };
                lock.write_holder();
                return Ok(lock);
            }
        }
    }

    /// Takes the lock only if nobody holds a conflicting one.
    pub fn try_acquire(path: &Path, mode: Mode) -> io::Result<Option<Lock>> {
        let file = open(path)?;
        if !try_lock(&file, mode).map_err(|e| with_path(e, "locking", path))? || !same_file(&file, path)? {
            return Ok(None);
        }
        let lock = Lock { file, path: path.to_owned(), mode };
        lock.write_holder();
        Ok(Some(lock))
    }

    /// Exclusive → shared, keeping the lock throughout (others may then share it).
    pub fn downgrade(&mut self) -> io::Result<()> {
        if self.mode == Mode::Exclusive {
            self.file.lock_shared().map_err(|e| with_path(e, "downgrading", &self.path))?;
            self.mode = Mode::Shared;
        }
        Ok(())
    }

    /// Deletes the lock file while still holding it (after deleting the entry it guards).
    /// Runs waiting on it notice and start over with a new file.
    pub fn remove(self) -> io::Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| with_path(e, "removing", &self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Records who holds the lock, for the message of a run that has to wait. Best effort:
    /// it is only ever shown to people.
    fn write_holder(&self) {
        let line = format!("{}\n", holder_line());
        if self.mode == Mode::Exclusive {
            let _ = self.file.set_len(0);
        }
        let _ = self.file.write_all_at(line.as_bytes(), 0);
        let _ = self.file.set_len(line.len() as u64);
        let _ = (&self.file).flush();
    }
}

/// `pid 1234 (xtask iso) since 2025-01-01 10:00:00 UTC`: who this process is.
pub fn holder_line() -> String {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let program = Path::new(&program).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(program);
    let command: Vec<String> = std::iter::once(program).chain(args).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("pid {} ({}) since {}", std::process::id(), command.join(" "), crate::utc_date(now))
}

fn holder_of(file: &File) -> String {
    let mut buf = vec![0u8; 512];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    match text.lines().next().map(str::trim) {
        Some(line) if !line.is_empty() => line.to_string(),
        _ => "another run".to_string(),
    }
}

fn open(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| with_path(e, "creating", dir))?;
    }
    File::options().read(true).write(true).create(true).truncate(false).open(path).map_err(|e| with_path(e, "opening", path))
}

/// `Ok(false)` when another holder blocks it.
fn try_lock(file: &File, mode: Mode) -> io::Result<bool> {
    let r = match mode {
        Mode::Shared => file.try_lock_shared(),
        Mode::Exclusive => file.try_lock(),
    };
    match r {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn lock(file: &File, mode: Mode) -> io::Result<()> {
    match mode {
        Mode::Shared => file.lock_shared(),
        Mode::Exclusive => file.lock(),
    }
}

/// Whether `path` still names the file that `file` has open.
fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.ino() == held.ino() && now.dev() == held.dev()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(with_path(e, "reading", path)),
    }
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn shared_locks_coexist_and_exclude_an_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = Lock::acquire(&p, Mode::Shared).unwrap();
        let b = Lock::try_acquire(&p, Mode::Shared).unwrap();
        assert!(b.is_some());
        assert!(Lock::try_acquire(&p, Mode::Exclusive).unwrap().is_none());
        drop((a, b));
        let mut x = Lock::try_acquire(&p, Mode::Exclusive).unwrap().expect("free again");
        assert!(Lock::try_acquire(&p, Mode::Shared).unwrap().is_none());
        x.downgrade().unwrap();
        assert!(Lock::try_acquire(&p, Mode::Shared).unwrap().is_some());
        assert!(Lock::try_acquire(&p, Mode::Exclusive).unwrap().is_none());
    }

    #[test]
    fn a_waiter_names_the_holder_and_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("busybox-0123456789abcdef.lock");
        let held = Lock::acquire(&p, Mode::Exclusive).unwrap();
        let (tx, rx) = mpsc::channel();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || {
            let mut said = Vec::new();
            let lock = Lock::acquire_with(&p2, Mode::Exclusive, &mut |m| said.push(m.to_string())).unwrap();
            tx.send(()).unwrap();
            (lock.mode(), said)
        });
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "the waiter must wait");
        drop(held);
        let (mode, said) = waiter.join().unwrap();
        assert_eq!(mode, Mode::Exclusive);
        assert_eq!(said.len(), 1, "{said:?}");
        let want = format!("waiting for pid {} (", std::process::id());
        assert!(said[0].starts_with(&want) && said[0].ends_with(&format!("(lock {})", p.display())), "{said:?}");
        assert!(said[0].contains(" since "), "{said:?}");
    }

    #[test]
    fn a_waiter_starts_over_when_the_holder_removes_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.lock");
        let held = Lock::acquire(&p, Mode::Exclusive).unwrap();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || Lock::acquire_with(&p2, Mode::Exclusive, &mut |_| {}).unwrap());
        std::thread::sleep(Duration::from_millis(200));
        held.remove().unwrap();
        let lock = waiter.join().unwrap();
        assert!(p.exists(), "the waiter locks a new file at the same path");
        assert!(same_file(&lock.file, &p).unwrap());
        assert!(Lock::try_acquire(&p, Mode::Shared).unwrap().is_none());
    }
}
