//! The control socket, [`SOCKET`]: one line of JSON each way per connection.
//!
//! Request: `{"op":"stop","name":"web"}` (ops `start`, `stop`, `restart`).
//! Response: `{"ok":true,"message":"stopped web (SIGTERM, exited 0 after 1.0 s)"}`,
//! or `{"ok":false,"message":"web is not running (exited (1))"}`.

use crate::error::Context;
use crate::{bail, Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

pub const SOCKET: &str = "/run/kiln-ctr/ctl.sock";

/// What a shim tells the daemon, one JSON line each on its stdout: `running` once the
/// container started, then `exited` when it is gone and cleaned up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ShimEvent {
    Running {
        pid: i32,
        ips: Vec<String>,
        started: f64,
        #[serde(default)]
        startup: crate::state::Startup,
    },
    Exited { exit: crate::state::Exit },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    Start { name: String },
    Stop { name: String },
    Restart { name: String },
}

impl Request {
    pub fn name(&self) -> &str {
        match self {
            Request::Start { name } | Request::Stop { name } | Request::Restart { name } => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
}

impl Response {
    pub fn ok(message: impl Into<String>) -> Response {
        Response { ok: true, message: message.into() }
    }
    pub fn err(message: impl Into<String>) -> Response {
        Response { ok: false, message: message.into() }
    }
}

/// One message as a line of JSON (with its newline).
pub fn encode(msg: &impl Serialize) -> String {
    let mut s = serde_json::to_string(msg).expect("plain data serialises");
    s.push('\n');
    s
}

pub fn parse_request(line: &str) -> Result<Request> {
    serde_json::from_str(line.trim_end()).map_err(|e| Error(format!("bad request {:?}: {e}", line.trim_end())))
}

pub fn parse_response(line: &str) -> Result<Response> {
    serde_json::from_str(line.trim_end()).map_err(|e| Error(format!("bad response from the daemon {:?}: {e}", line.trim_end())))
}

/// Reads one line (at most 64 KiB) from a stream.
pub fn read_line<R: std::io::Read>(stream: &mut R) -> Result<String> {
    let mut line = String::new();
    BufReader::new(std::io::Read::take(&mut *stream, 64 << 10)).read_line(&mut line).context(|| "reading the control socket".into())?;
    if line.is_empty() {
        bail!("the control socket closed without an answer");
    }
    Ok(line)
}

/// The CLI's side: sends one request to the daemon and returns its answer.
pub fn call(socket: &Path, req: &Request) -> Result<Response> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        Error(format!("cannot reach the daemon at {} ({e}); is `kiln-ctr daemon` running?", socket.display()))
    })?;
    s.write_all(encode(req).as_bytes()).context(|| format!("writing to {}", socket.display()))?;
    parse_response(&read_line(&mut s)?)
}

/// The daemon's side of one connection: reads a request, answers with `handle`'s
/// response (a request it cannot parse gets an error response).
pub fn serve_one(mut s: UnixStream, handle: impl FnOnce(Request) -> Response) -> Result<()> {
    let resp = match read_line(&mut s).and_then(|l| parse_request(&l)) {
        Ok(req) => handle(req),
        Err(e) => Response::err(e.0),
    };
    s.write_all(encode(&resp).as_bytes()).context(|| "answering on the control socket".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn wire_format() {
        assert_eq!(encode(&Request::Stop { name: "web".into() }), "{\"op\":\"stop\",\"name\":\"web\"}\n");
        assert_eq!(parse_request("{\"op\":\"restart\",\"name\":\"db\"}\n").unwrap(), Request::Restart { name: "db".into() });
        assert_eq!(encode(&Response::ok("started web")), "{\"ok\":true,\"message\":\"started web\"}\n");
        let e = parse_request("{\"op\":\"explode\",\"name\":\"db\"}").unwrap_err().0;
        assert!(e.starts_with("bad request") && e.contains("explode"), "{e}");
        assert!(parse_request("{\"op\":\"stop\"}").is_err());
    }

    #[test]
    fn shim_events() {
        let startup = crate::state::Startup { network: 0.5, runtime: 0.25 };
        let e = ShimEvent::Running { pid: 42, ips: vec!["10.88.0.2/16".into()], started: 1.5, startup };
        assert_eq!(
            encode(&e),
            "{\"event\":\"running\",\"pid\":42,\"ips\":[\"10.88.0.2/16\"],\"started\":1.5,\"startup\":{\"network\":0.5,\"runtime\":0.25}}\n"
        );
        assert_eq!(startup.describe(), "started in 0.75 s: network 0.50 s, runtime 0.25 s");
        let x = ShimEvent::Exited { exit: crate::state::Exit { code: Some(0), finished: 2.0, ..Default::default() } };
        assert_eq!(serde_json::from_str::<ShimEvent>(&encode(&x)).unwrap(), x);
    }

    #[test]
    fn round_trip_over_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (s, _) = listener.accept().unwrap();
                serve_one(s, |req| match req {
                    Request::Stop { name } if name == "web" => Response::ok("stopped web"),
                    other => Response::err(format!("{} is not running (exited (1))", other.name())),
                })
                .unwrap();
            }
        });
        assert_eq!(call(&path, &Request::Stop { name: "web".into() }).unwrap(), Response::ok("stopped web"));
        let r = call(&path, &Request::Start { name: "db".into() }).unwrap();
        assert_eq!(r, Response::err("db is not running (exited (1))"));
        server.join().unwrap();
    }

    #[test]
    fn no_daemon_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = call(&dir.path().join("ctl.sock"), &Request::Start { name: "x".into() }).unwrap_err().0;
        assert!(e.contains("is `kiln-ctr daemon` running?"), "{e}");
    }
}
