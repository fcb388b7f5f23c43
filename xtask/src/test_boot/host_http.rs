//! A tiny HTTP server on the host's loopback, for a guest to reach through QEMU's
//! user-mode network (the guest's 10.0.2.2 is the host's 127.0.0.1). It answers every
//! request with one fixed body, and stops when dropped.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct HostHttp {
    /// The port on 127.0.0.1 (free when it was bound).
    pub port: u16,
    /// What every request gets.
    pub body: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostHttp {
    /// Binds 127.0.0.1 on a free port and serves `body` until dropped.
    pub fn start(body: String) -> Result<HostHttp> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding a port on 127.0.0.1")?;
        let port = listener.local_addr()?.port();
        // Non-blocking accepts, so the thread sees the stop flag within a poll interval.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, answer) = (stop.clone(), body.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = answer_one(conn, &answer);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Ok(HostHttp { port, body, stop, thread: Some(thread) })
    }
}

/// Reads the request head (up to its blank line; bounded) and answers with `body`.
fn answer_one(mut conn: TcpStream, body: &str) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (mut head, mut buf) = (Vec::new(), [0u8; 1024]);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let reply = format!("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    conn.write_all(reply.as_bytes())
}

impl Drop for HostHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_its_body_until_dropped() {
        let server = HostHttp::start("hello 42".into()).unwrap();
        let port = server.port;
        for _ in 0..2 {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut reply = String::new();
            c.read_to_string(&mut reply).unwrap();
            assert!(reply.starts_with("HTTP/1.0 200 OK\r\n") && reply.ends_with("\r\n\r\nhello 42"), "{reply}");
        }
        drop(server);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the port is closed once the server is dropped");
    }
}
