//! kiln-hostbin: host executables into the image, with every file the guest's loader
//! will open for them.
//!
//! Debian's CNI plugins and iptables are dynamically linked against glibc. [`Closure::add`]
//! takes such a file on the host and adds:
//!
//! - the file itself;
//! - its `PT_INTERP` program interpreter (`/lib64/ld-linux-x86-64.so.2`);
//! - every `DT_NEEDED` library, recursively, found the way glibc's `ld.so` finds it in a
//!   guest that has no `/etc/ld.so.cache`: a name with a `/` as it is; else the
//!   object's `DT_RUNPATH`, or, when it has none, the `DT_RPATH` of the object and of
//!   each object that loaded it up to the executable; then the loader's default
//!   directories ([`DEFAULT_DIRS`]). `$ORIGIN` is the directory of the executable's real
//!   path, and for a library the directory it was found in. A candidate that is not a
//!   64-bit ELF file for the same machine is skipped, as `ld.so` skips it.
//!
//! Guest paths are host paths. Every path is resolved component by component as the
//! kernel does, and each symbolic link met on the way becomes a [`Kind::Symlink`] entry
//! with its target verbatim: a directory (`/lib64 -> usr/lib64` on a merged-`/usr`
//! host) as much as a library's version link (`libfoo.so.1 -> libfoo.so.1.2.3`). Regular
//! files are [`Kind::File`] entries at their real path. So the guest resolves the
//! paths the loader uses (the interpreter's, `/lib/x86_64-linux-gnu/libc.so.6`) to the
//! same files, through the same links.
//!
//! What a program loads with `dlopen` is not in its dynamic section: add those files
//! the same way ([`Closure::add`] walks their dependencies too), as [`container_os`]
//! does for iptables' extensions.
//!
//! The loader's `glibc-hwcaps` subdirectories, `$LIB` and `$PLATFORM` in search paths
//! and `LD_LIBRARY_PATH` are not followed: none of the files Kiln takes uses them. A
//! search path with `$LIB` or `$PLATFORM`, or a relative one, is an error.
//!
//! ELF parsing is `object` (gimli-rs; the reader behind std's backtraces and cargo),
//! read-only with only its `read_core`, `elf` and `std` features: its one dependency,
//! memchr, was already in the tree, and it has bounds-checked, typed accessors for
//! exactly what is needed here (`PT_INTERP`, `PT_DYNAMIC`, `PT_LOAD`), so the files are
//! read from their program headers as `ld.so` reads them. goblin's `Elf::parse` would
//! need its `elf32` and `endian_fd` features as well, and brings scroll and plain.

mod elf;
#[cfg(test)]
mod tests;

use kiln_initramfs::{Data, Tree};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The directories Debian 12's `ld.so` searches when a library is in no search path
/// of its users and there is no `/etc/ld.so.cache` (`ld.so --help`, "system search
/// path"). `/lib64` and `/usr/lib64` are not among them (they hold only the
/// interpreter's link), so a library found only there on the host would not be found
/// in the guest: they are left out on purpose.
pub const DEFAULT_DIRS: &[&str] = &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"];

/// At most this many symbolic links in one path, as the kernel allows (`ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// One object of the guest's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Absolute, e.g. `/usr/lib/cni/bridge`.
    pub guest_path: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A copy of the host's regular file `host_path` with the permission bits `mode`.
    File { host_path: PathBuf, mode: u32 },
    /// A symbolic link to `target`, verbatim (relative or absolute).
    Symlink { target: String },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a 64-bit ELF file, or is damaged.
    #[error("{}: {message}{}", path.display(), via(binary, path))]
    Elf { binary: PathBuf, path: PathBuf, message: String },
    /// A `DT_NEEDED` library is in none of the directories searched.
    #[error("{}: {library} (needed by {}) not found in {}", binary.display(), needed_by.display(), list(searched))]
    MissingLibrary {
        /// The file given to [`Closure::add`].
        binary: PathBuf,
        /// The object whose `DT_NEEDED` names it (the binary or one of its libraries).
        needed_by: PathBuf,
        library: String,
        /// In search order.
        searched: Vec<PathBuf>,
    },
    /// A search path (`DT_RPATH`/`DT_RUNPATH`) the walker cannot expand as the guest would.
    #[error("{}: search path {value:?} of {}: {reason}", binary.display(), object.display())]
    SearchPath { binary: PathBuf, object: PathBuf, value: String, reason: String },
    #[error("{}: more than {MAX_SYMLINKS} symbolic links", path.display())]
    SymlinkLoop { path: PathBuf },
    #[error("{}: not UTF-8, or not absolute", path.display())]
    BadPath { path: PathBuf },
    /// Two different objects at one guest path.
    #[error("{guest_path}: {existing} already there, not {new}")]
    Conflict { guest_path: String, existing: String, new: String },
    /// The tree has another object at a path of the closure (it is never replaced).
    #[error("{guest_path}: the tree already has something else there ({existing})")]
    TreeConflict { guest_path: String, existing: String },
    #[error("{guest_path}: {source}")]
    Tree {
        guest_path: String,
        #[source]
        source: kiln_initramfs::Error,
    },
}

fn via(binary: &Path, path: &Path) -> String {
    if binary == path {
        String::new()
    } else {
        format!(" (a dependency of {})", binary.display())
    }
}

fn list(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_owned(), source }
}

/// The files a set of host binaries needs in the guest: see the crate's documentation.
#[derive(Debug, Clone)]
pub struct Closure {
    entries: BTreeMap<String, Kind>,
    /// Objects already walked, by real path.
    walked: BTreeSet<PathBuf>,
    default_dirs: Vec<PathBuf>,
}

impl Default for Closure {
    fn default() -> Self {
        Closure::new()
    }
}

/// The closure of `binaries` (executables, or `dlopen`ed objects), sorted by guest path.
pub fn closure<P: AsRef<Path>>(binaries: &[P]) -> Result<Vec<Entry>, Error> {
    let mut c = Closure::new();
    for b in binaries {
        c.add(b)?;
    }
    Ok(c.entries())
}

impl Closure {
    /// An empty closure searching [`DEFAULT_DIRS`].
    pub fn new() -> Self {
        Closure::with_default_dirs(DEFAULT_DIRS)
    }

    /// An empty closure searching `dirs` (absolute) after the objects' own search paths.
    pub fn with_default_dirs<P: AsRef<Path>>(dirs: &[P]) -> Self {
        Closure {
            entries: BTreeMap::new(),
            walked: BTreeSet::new(),
            default_dirs: dirs.iter().map(|d| d.as_ref().to_owned()).collect(),
        }
    }

    /// Adds the 64-bit ELF file at `path` (an executable, a shared library, a `dlopen`ed
    /// module), its interpreter and its libraries, recursively. Relative paths are
    /// taken from the current directory.
    pub fn add(&mut self, path: impl AsRef<Path>) -> Result<&mut Self, Error> {
        let path = std::path::absolute(path.as_ref()).map_err(io(path.as_ref()))?;
        self.walk(&path, &path, &[], true)?;
        Ok(self)
    }

    /// Adds a symbolic link at `guest_path` (absolute) to `target`, e.g.
    /// `/usr/sbin/iptables` to `xtables-legacy-multi`.
    pub fn add_symlink(&mut self, guest_path: &str, target: &str) -> Result<&mut Self, Error> {
        if !guest_path.starts_with('/') {
            return Err(Error::BadPath { path: guest_path.into() });
        }
        self.put(guest_path.to_owned(), Kind::Symlink { target: target.to_owned() })?;
        Ok(self)
    }

    /// Every entry, sorted by guest path.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.iter().map(|(p, k)| Entry { guest_path: p.clone(), kind: k.clone() }).collect()
    }

    /// The bytes of all the files (symbolic links not counted).
    pub fn file_bytes(&self) -> Result<u64, Error> {
        let mut total = 0;
        for kind in self.entries.values() {
            if let Kind::File { host_path, .. } = kind {
                total += std::fs::metadata(host_path).map_err(io(host_path))?.len();
            }
        }
        Ok(total)
    }

    /// Puts every entry into `tree` (files as [`Data::Path`], read when the tree is
    /// written), creating missing parent directories (`0755`, root's) as the tree does.
    /// An entry the tree already has, the same, is left alone; anything else at one of
    /// the paths (a directory where the closure has `/lib -> usr/lib`, another file) is
    /// an error naming it, and nothing is replaced.
    pub fn insert_into(&self, tree: &mut Tree) -> Result<(), Error> {
        for (path, kind) in &self.entries {
            let new = match kind {
                Kind::File { host_path, mode } => {
                    kiln_initramfs::Entry::new(path, *mode, kiln_initramfs::Kind::File(Data::Path(host_path.clone())))
                }
                Kind::Symlink { target } => kiln_initramfs::Entry::new(path, 0o777, kiln_initramfs::Kind::Symlink(target.clone())),
            };
            if let Some(old) = tree.get(path) {
                if old.kind == new.kind && old.mode == new.mode {
                    continue;
                }
                return Err(Error::TreeConflict { guest_path: path.clone(), existing: format!("{:?}", old.kind) });
            }
            tree.insert(new).map_err(|source| Error::Tree { guest_path: path.clone(), source })?;
        }
        Ok(())
    }

    fn put(&mut self, guest_path: String, kind: Kind) -> Result<(), Error> {
        match self.entries.get(&guest_path) {
            Some(existing) if *existing == kind => Ok(()),
            Some(existing) => Err(Error::Conflict { guest_path, existing: describe(existing), new: describe(&kind) }),
            None => {
                self.entries.insert(guest_path, kind);
                Ok(())
            }
        }
    }

    /// Walks the object found at `path` (as the loader names it) on behalf of `binary`;
    /// `inherited` are the `DT_RPATH`s of the objects that loaded it.
    fn walk(&mut self, path: &Path, binary: &Path, inherited: &[PathBuf], root: bool) -> Result<(), Error> {
        let real = self.resolve(path)?;
        if !self.walked.insert(real.clone()) {
            return Ok(());
        }
        let data = std::fs::read(&real).map_err(io(&real))?;
        let info = elf::parse(&data).map_err(|message| Error::Elf { binary: binary.to_owned(), path: path.to_owned(), message })?;
        drop(data);
        let mode = std::fs::metadata(&real).map_err(io(&real))?.permissions().mode() & 0o7777;
        self.put(guest(&real)?, Kind::File { host_path: real.clone(), mode })?;

        if let Some(interp) = &info.interp {
            self.walk(Path::new(interp), binary, &[], false)?;
        }
        // $ORIGIN: the executable's real directory (the kernel hands ld.so its resolved
        // path); a library's, the directory it was found in.
        let origin = if root { real.parent() } else { path.parent() }.unwrap_or(Path::new("/"));
        let expand = |value: &str| -> Result<Vec<PathBuf>, Error> {
            let bad = |reason: &str| Error::SearchPath {
                binary: binary.to_owned(),
                object: path.to_owned(),
                value: value.to_owned(),
                reason: reason.to_owned(),
            };
            let mut dirs = Vec::new();
            for part in value.split(':') {
                let o = origin.to_str().ok_or_else(|| bad("$ORIGIN is not UTF-8"))?;
                let dir = part.replace("${ORIGIN}", o).replace("$ORIGIN", o);
                if dir.contains('$') {
                    return Err(bad("only $ORIGIN is supported ($LIB, $PLATFORM are not)"));
                }
                if !dir.starts_with('/') {
                    return Err(bad("a relative (or empty) entry would depend on the guest's current directory"));
                }
                dirs.push(PathBuf::from(dir));
            }
            Ok(dirs)
        };
        // An object with DT_RUNPATH has its DT_RPATH ignored, and passes none on.
        let own_rpath = match (&info.runpath, &info.rpath) {
            (None, Some(rpath)) => expand(rpath)?,
            _ => Vec::new(),
        };
        let chain: Vec<PathBuf> = own_rpath.iter().chain(inherited).cloned().collect();
        let mut search = match &info.runpath {
            Some(runpath) => expand(runpath)?,
            None => chain.clone(),
        };
        search.extend(self.default_dirs.iter().cloned());

        for name in &info.needed {
            let found = if name.starts_with('/') {
                Some(PathBuf::from(name))
            } else if name.contains('/') {
                return Err(Error::SearchPath {
                    binary: binary.to_owned(),
                    object: path.to_owned(),
                    value: name.clone(),
                    reason: "a relative DT_NEEDED path would depend on the guest's current directory".into(),
                });
            } else {
                search.iter().map(|d| d.join(name)).find(|c| compatible(c, info.machine))
            };
            let Some(found) = found else {
                return Err(Error::MissingLibrary {
                    binary: binary.to_owned(),
                    needed_by: path.to_owned(),
                    library: name.clone(),
                    searched: search,
                });
            };
            self.walk(&found, binary, &chain, false)?;
        }
        Ok(())
    }

    /// Resolves the absolute `path` as the kernel does, adding every symbolic link on the
    /// way as an entry; returns the real path.
    fn resolve(&mut self, path: &Path) -> Result<PathBuf, Error> {
        if !path.is_absolute() {
            return Err(Error::BadPath { path: path.to_owned() });
        }
        let mut pending: Vec<OsString> = Vec::new();
        push_components(&mut pending, path);
        let mut current = PathBuf::from("/");
        let mut links = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                current.pop();
                continue;
            }
            let next = current.join(&part);
            let meta = std::fs::symlink_metadata(&next).map_err(io(&next))?;
            if !meta.file_type().is_symlink() {
                current = next;
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Error::SymlinkLoop { path: path.to_owned() });
            }
            let target = std::fs::read_link(&next).map_err(io(&next))?;
            let text = target.to_str().ok_or_else(|| Error::BadPath { path: next.clone() })?.to_owned();
            self.put(guest(&next)?, Kind::Symlink { target: text })?;
            if target.is_absolute() {
                current = PathBuf::from("/");
            }
            push_components(&mut pending, &target);
        }
        Ok(current)
    }
}

/// Pushes `path`'s components onto the stack `pending` so that the first is popped first.
fn push_components(pending: &mut Vec<OsString>, path: &Path) {
    for c in path.components().rev() {
        match c {
            Component::Normal(s) => pending.push(s.to_owned()),
            Component::ParentDir => pending.push("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

fn guest(path: &Path) -> Result<String, Error> {
    path.to_str().filter(|s| s.starts_with('/')).map(str::to_owned).ok_or_else(|| Error::BadPath { path: path.to_owned() })
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::File { host_path, mode } => format!("a copy of {} (mode {mode:o})", host_path.display()),
        Kind::Symlink { target } => format!("a symbolic link to {target}"),
    }
}

/// Whether `candidate` is a 64-bit ELF file for `machine` (what `ld.so` accepts while
/// searching; anything else, missing or not, is skipped).
fn compatible(candidate: &Path, machine: u16) -> bool {
    let mut head = [0u8; 20];
    std::fs::File::open(candidate).and_then(|mut f| f.read_exact(&mut head)).is_ok() && elf::machine_of(&head) == Some(machine)
}

/// Where Debian 12's CNI plugins are, on the host and in the guest (the same as
/// `kiln_ctr::manifest::CNI_BIN_DIR`).
pub const CNI_DIR: &str = "/usr/lib/cni";
/// The CNI plugins the container OS uses.
pub const CNI_PLUGINS: &[&str] = &["bridge", "host-local", "loopback", "portmap"];
/// iptables' legacy (x_tables) multi-call binary; it dispatches on `argv[0]`.
pub const XTABLES_LEGACY_MULTI: &str = "/usr/sbin/xtables-legacy-multi";
/// The name the CNI plugins run (go-iptables looks up `iptables` on `PATH`). On the
/// host it is Debian's alternatives link (to the nft backend by default); in the guest
/// a link to [`XTABLES_LEGACY_MULTI`], which then behaves as `iptables-legacy`.
pub const IPTABLES: &str = "/usr/sbin/iptables";
/// Where iptables `dlopen`s its extensions (`XTABLES_LIBDIR`).
pub const XTABLES_DIR: &str = "/usr/lib/x86_64-linux-gnu/xtables";
/// The extensions the rules of the bridge plugin's `ipMasq` and of portmap load, traced
/// (`strace -f -e openat`) from Debian 12's plugins 1.1.1 and iptables 1.8.9 in a
/// scratch network namespace, ADD and DEL of a TCP and a UDP port mapping: every rule
/// is in the nat table. `standard` is loaded for every rule (jumps, ACCEPT).
pub const XTABLES_EXTENSIONS: &[&str] = &[
    // Every rule: chain jumps, ACCEPT.
    "libxt_standard.so",
    // `-m comment --comment ...` on the rules of both plugins.
    "libxt_comment.so",
    // bridge ipMasq: `! -d 224.0.0.0/4 -j MASQUERADE`; portmap's CNI-HOSTPORT-MASQ.
    "libxt_MASQUERADE.so",
    // portmap: `-m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`.
    "libxt_addrtype.so",
    // portmap: `-m multiport --dports 8080`.
    "libxt_multiport.so",
    // portmap: `-p tcp --dport` and `-p udp --dport`.
    "libxt_tcp.so",
    "libxt_udp.so",
    // portmap: `-m mark --mark 0x2000/0x2000` and `-j MARK --set-xmark 0x2000/0x2000`.
    "libxt_mark.so",
    "libxt_MARK.so",
    // portmap: `-j DNAT --to-destination 10.88.0.2:80`.
    "libxt_DNAT.so",
];

/// The container OS's host binaries: the four CNI plugins in [`CNI_DIR`],
/// [`XTABLES_LEGACY_MULTI`] with [`IPTABLES`] linked to it, and the extensions in
/// [`XTABLES_EXTENSIONS`], each with its interpreter and libraries.
pub fn container_os() -> Result<Closure, Error> {
    let mut c = Closure::new();
    for plugin in CNI_PLUGINS {
        c.add(Path::new(CNI_DIR).join(plugin))?;
    }
    c.add(XTABLES_LEGACY_MULTI)?;
    c.add_symlink(IPTABLES, "xtables-legacy-multi")?;
    for ext in XTABLES_EXTENSIONS {
        c.add(Path::new(XTABLES_DIR).join(ext))?;
    }
    Ok(c)
}
