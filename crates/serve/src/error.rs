//! Errors of the server.

use std::path::PathBuf;

/// What went wrong; every variant names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a file of ours.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An overlay file that cannot be used.
    #[error("overlay {}: {problem}", path.display())]
    Overlay {
        /// The overlay.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The listening socket could not be made.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The socket path or address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// Something already exists where the socket would go.
    #[error("{} already exists; pverescue does not replace it", path.display())]
    SocketExists {
        /// The socket path.
        path: PathBuf,
    },
    /// A client broke the protocol (the connection is closed; the server goes on).
    #[error("client broke the protocol at {stage}: {problem}")]
    Protocol {
        /// Handshake or transmission step.
        stage: &'static str,
        /// What was expected and found.
        problem: String,
    },
    /// The connection failed.
    #[error("connection: {0}")]
    Connection(#[from] std::io::Error),
}

impl Error {
    /// Advice for the user, where there is some.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::SocketExists { path } => Some(format!(
                "remove it if it is a leftover of an earlier run (`rm {}`), or pick another --socket",
                path.display()
            )),
            Error::Listen { .. } => {
                Some("pick another --listen port, or --socket PATH for a Unix socket".into())
            }
            Error::Overlay { .. } => Some(
                "give --overlay a new file name; an overlay only fits the disk it was made for"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
