//! The operator's commands that read state or talk to the daemon.

use crate::shim::log_path;
use kiln_ctr::error::Context;
use kiln_ctr::manifest::{self, Manifest};
use kiln_ctr::proto::{self, Request};
use kiln_ctr::state::{self, State};
use kiln_ctr::{bail, inspect as facts, Result};
use serde_json::{json, Value};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

fn load() -> Result<Manifest> {
    Manifest::load(Path::new(manifest::MANIFEST_PATH))
}

/// A container's state; one the daemon has not written yet is `created`.
pub fn state_of(name: &str) -> Result<State> {
    Ok(State::read(Path::new(manifest::STATE_DIR), name)?.unwrap_or_else(|| State::new(name)))
}

pub fn list() -> Result<u8> {
    let m = load()?;
    let states = m.containers.iter().map(|c| state_of(&c.name)).collect::<Result<Vec<_>>>()?;
    print!("{}", state::table(&states));
    Ok(0)
}

pub fn control(req: Request) -> Result<u8> {
    load()?.get(req.name())?;
    let resp = proto::call(Path::new(proto::SOCKET), &req)?;
    if !resp.ok {
        bail!("{}", resp.message);
    }
    println!("{}", resp.message);
    Ok(0)
}

pub fn logs(name: &str, follow: bool) -> Result<u8> {
    load()?.get(name)?;
    let path = log_path(name);
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Not written yet: wait for it.
            loop {
                std::thread::sleep(Duration::from_millis(250));
                if let Ok(f) = std::fs::File::open(&path) {
                    break f;
                }
            }
        }
        Err(e) => bail!("{}: {e}", path.display()),
    };
    let mut out = std::io::stdout().lock();
    let mut pos = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf).context(|| path.display().to_string())?;
        if n > 0 {
            pos += n as u64;
            out.write_all(&buf[..n]).context(|| "stdout".into())?;
            continue;
        }
        if !follow {
            return Ok(0);
        }
        out.flush().context(|| "stdout".into())?;
        std::thread::sleep(Duration::from_millis(250));
        // Truncated (or replaced): start again from its beginning.
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(pos);
        if len < pos {
            f = std::fs::File::open(&path).context(|| path.display().to_string())?;
            f.seek(SeekFrom::Start(0)).context(|| path.display().to_string())?;
            pos = 0;
        }
    }
}

pub fn inspect(name: &str) -> Result<u8> {
    let m = load()?;
    let c = m.get(name)?;
    let st = state_of(name)?;
    let config_path = Path::new(&c.bundle).join("config.json");
    let config = std::fs::read_to_string(&config_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        .map_or_else(|e| json!({ "error": format!("{}: {e}", config_path.display()) }), |v| facts::config_facts(&v));
    let cni: Value = std::fs::read_to_string(Path::new(manifest::STATE_DIR).join(name).join("cni.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let out = json!({
        "name": name,
        "state": st.word(),
        "manifest": c,
        "status": st,
        "ips": st.ips,
        "config": config,
        "cni": cni,
        "log": log_path(name),
        "netns": manifest::netns_path(name),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(0)
}
