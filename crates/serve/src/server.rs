//! Listening: a Unix socket (removed again on exit and on SIGINT/SIGTERM) or a TCP address, one
//! thread per client.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::nbd::{Events, Export, handshake, transmission};

/// Time a client has for the whole handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where to listen.
#[derive(Debug, Clone)]
pub enum Listen {
    /// A Unix socket at this path (must not exist).
    Unix(PathBuf),
    /// A TCP address (`127.0.0.1:10809`).
    Tcp(String),
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Sockets to remove when a signal ends the process.
static SOCKETS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn sockets() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SOCKETS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A bound server.
pub struct Server {
    listener: Listener,
    socket: Option<PathBuf>,
    exports: Arc<Vec<Export>>,
    workers: usize,
}

impl Server {
    /// Binds `listen` for `exports`; `workers` threads serve the requests of each client.
    pub fn bind(listen: &Listen, exports: Vec<Export>, workers: usize) -> Result<Server> {
        let (listener, socket) = match listen {
            Listen::Unix(path) => {
                if std::fs::symlink_metadata(path).is_ok() {
                    return Err(Error::SocketExists { path: path.clone() });
                }
                static HOOK: std::sync::Once = std::sync::Once::new();
                HOOK.call_once(|| {
                    cleanup::on_signal(cleanup::Stage::Files, |_| {
                        for p in sockets().drain(..) {
                            let _ = std::fs::remove_file(p);
                        }
                    });
                });
                // Registered under the lock, so a signal sees the socket once it exists.
                let mut list = sockets();
                let l = UnixListener::bind(path).map_err(|e| Error::Listen {
                    addr: path.display().to_string(),
                    source: e,
                })?;
                list.push(path.clone());
                (Listener::Unix(l), Some(path.clone()))
            }
            Listen::Tcp(addr) => {
                let l = TcpListener::bind(addr).map_err(|e| Error::Listen {
                    addr: addr.clone(),
                    source: e,
                })?;
                (Listener::Tcp(l), None)
            }
        };
        Ok(Server {
            listener,
            socket,
            exports: Arc::new(exports),
            workers: workers.max(1),
        })
    }

    /// Where clients connect: the socket path or `host:port` (the real port when 0 was asked).
    pub fn address(&self) -> String {
        match &self.listener {
            Listener::Unix(_) => self
                .socket
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            Listener::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        }
    }

    /// The exports.
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// Serves clients until the process ends; each client has a thread of its own. Errors of
    /// a client end its connection only and go to `on_client_error`.
    pub fn run(
        &self,
        events: Arc<dyn Events>,
        on_client_error: Arc<dyn Fn(&Error) + Send + Sync>,
    ) -> Result<()> {
        loop {
            let conn: Result<Conn> = match &self.listener {
                Listener::Unix(l) => l.accept().map_err(Error::from).and_then(|(s, _)| unix(s)),
                Listener::Tcp(l) => l.accept().map_err(Error::from).and_then(|(s, _)| tcp(s)),
            };
            let (mut r, mut w, timeout) = match conn {
                Ok(c) => c,
                Err(e) => {
                    on_client_error(&e);
                    continue;
                }
            };
            let exports = Arc::clone(&self.exports);
            let events = Arc::clone(&events);
            let on_error = Arc::clone(&on_client_error);
            let workers = self.workers;
            let spawned = std::thread::Builder::new()
                .name("nbd-client".into())
                .spawn(move || {
                    let result = (|| {
                        timeout(Some(HANDSHAKE_TIMEOUT))?;
                        let Some(n) = handshake(&mut r, &mut w, &exports)? else {
                            return Ok(());
                        };
                        timeout(None)?;
                        transmission(&mut r, w, &exports[n.export], &n, workers, &*events)
                    })();
                    if let Err(e) = result {
                        on_error(&e);
                    }
                });
            if let Err(e) = spawned {
                on_client_error(&Error::Connection(e));
            }
        }
    }
}

type Timeout = Box<dyn Fn(Option<Duration>) -> io::Result<()> + Send>;

type Conn = (Box<dyn Read + Send>, Box<dyn Write + Send>, Timeout);

fn unix(s: UnixStream) -> Result<Conn> {
    let r = s.try_clone()?;
    let t = s.try_clone()?;
    Ok((
        Box::new(r),
        Box::new(io::BufWriter::with_capacity(256 * 1024, s)),
        Box::new(move |d| t.set_read_timeout(d)),
    ))
}

fn tcp(s: TcpStream) -> Result<Conn> {
    s.set_nodelay(true)?;
    let r = s.try_clone()?;
    let t = s.try_clone()?;
    Ok((
        Box::new(r),
        Box::new(io::BufWriter::with_capacity(256 * 1024, s)),
        Box::new(move |d| t.set_read_timeout(d)),
    ))
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(p) = &self.socket {
            remove_socket(p);
        }
    }
}

/// Removes our socket (only if it still is a socket) and forgets it.
fn remove_socket(path: &Path) {
    let mut list = sockets();
    list.retain(|p| p != path);
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}
