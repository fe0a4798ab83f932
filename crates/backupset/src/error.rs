//! The crate's error type, and [`DeltaError`], which travels inside [`std::io::Error`]s.

use std::fmt;
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while opening, checking or patching backup files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening or decompressing an input failed.
    #[error(transparent)]
    Unpack(#[from] unpack::Error),
    /// A file system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The operation.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading an input stream failed (the inner error names the format and offset).
    #[error("{name}: {step}: {source}")]
    Read {
        /// The input.
        name: String,
        /// What was being done.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A differential was given without a full, and none can be found by its name.
    #[error("{diff}: cannot tell which full backup this differential belongs to{}", made_against_note(.made_against))]
    NoBase {
        /// The differential.
        diff: String,
        /// The source named in the VCDIFF app header.
        made_against: Option<String>,
    },
    /// The full named by the differential's file name is not there.
    #[error("{diff}: its full backup {} is missing{}", base.display(), made_against_note(.made_against))]
    BaseMissing {
        /// The differential.
        diff: String,
        /// Where the full was looked for.
        base: PathBuf,
        /// The source named in the VCDIFF app header.
        made_against: Option<String>,
    },
    /// The base given for a differential is itself a differential.
    #[error("{base}: the base is itself a differential; give the full backup it was made against")]
    BaseIsDifferential {
        /// The base.
        base: String,
    },
    /// The VCDIFF header of a delta could not be read.
    #[error("{name}: {source}")]
    Delta {
        /// The delta.
        name: String,
        /// The decoder's error.
        #[source]
        source: vcdiff::Error,
    },
    /// An archive is neither a VMA nor a tar archive.
    #[error("{name}: not a VMA or tar archive (first bytes {found:02x?})")]
    UnknownContent {
        /// The input.
        name: String,
        /// Its first (decompressed) bytes.
        found: Vec<u8>,
    },
    /// A VMA archive is damaged.
    #[error("{name}: {step}: {source}")]
    Vma {
        /// The input.
        name: String,
        /// What was being done.
        step: &'static str,
        /// The reader's error.
        #[source]
        source: vma::Error,
    },
    /// A tar archive is damaged.
    #[error("{name}: tar archive is damaged: {source}")]
    Tar {
        /// The input.
        name: String,
        /// What is wrong.
        #[source]
        source: crate::tar::TarError,
    },
    /// A file given as a delta is not one.
    #[error("{name}: not a delta: {what}")]
    NotADelta {
        /// The input.
        name: String,
        /// What it is instead.
        what: &'static str,
    },
}

fn made_against_note(m: &Option<String>) -> String {
    m.as_ref()
        .map(|s| format!(" (the differential was made against {s})"))
        .unwrap_or_default()
}

impl Error {
    /// Advice for the user, where there is some.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoBase { .. } => Some(
                "name the full with --base FULL (a differential is named <full>--differential-<time>.vcdiff[.ext])".into(),
            ),
            Error::BaseMissing { .. } => Some(
                "put the full next to the differential, or name it with --base FULL".into(),
            ),
            Error::Delta { source, .. } => source.hint(),
            Error::Vma { source, .. } => source.hint(),
            Error::Unpack(e) => e.hint(),
            Error::Tar { .. } => Some(
                "the container backup is damaged or truncated; `tar tvf` shows how far it reads".into(),
            ),
            _ => None,
        }
    }
}

/// A decoding error of a differential, with what is known about its base. It reaches callers
/// inside an [`std::io::Error`] (the differential is read as a stream); find it with
/// [`DeltaError::from_io`] or by walking the error's sources.
#[derive(Debug)]
pub struct DeltaError {
    /// The delta (as named by the user).
    pub delta: String,
    /// The base it was applied to.
    pub base: String,
    /// The source file named in the delta's app header, if any.
    pub made_against: Option<String>,
    /// True for a backup differential (its base is a full given with `--base`), false for a
    /// delta of a `patch` chain.
    pub backup: bool,
    /// The decoder's error.
    pub source: vcdiff::Error,
}

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "applying {} to {}: {}",
            self.delta, self.base, self.source
        )
    }
}

impl std::error::Error for DeltaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl DeltaError {
    /// Advice: for a wrong base, which full the differential was made against.
    pub fn hint(&self) -> Option<String> {
        match &self.source {
            vcdiff::Error::ChecksumMismatch { .. } | vcdiff::Error::SourceTooShort { .. } => {
                let Some(name) = &self.made_against else {
                    return self.source.hint();
                };
                let given = self.base.rsplit('/').next().unwrap_or(&self.base);
                let same =
                    crate::name::strip_compression(name) == crate::name::strip_compression(given);
                Some(match (same, self.backup) {
                    (true, true) => format!(
                        "this differential was made against {name}: the file with that name does \
                         not hold the data the differential expects (re-made or damaged full?)"
                    ),
                    (false, true) => format!(
                        "this differential was made against {name}, not {given}: restore it with \
                         that full (--base FULL)"
                    ),
                    (true, false) => format!(
                        "this delta was made against {name}: the file with that name does not \
                         hold the data the delta expects"
                    ),
                    (false, false) => {
                        format!(
                            "this delta was made against {name}, not {given}: apply it to that file"
                        )
                    }
                })
            }
            vcdiff::Error::RdiffBadCopy { .. } => Some(
                "the basis is shorter than the delta expects: is it the file the delta was made \
                 against (uncompressed content, same version)?"
                    .into(),
            ),
            other => other.hint(),
        }
    }

    /// Finds a [`DeltaError`] carried by an [`std::io::Error`].
    pub fn from_io(err: &std::io::Error) -> Option<&DeltaError> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = err
            .get_ref()
            .map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(e) = cur {
            if let Some(d) = e.downcast_ref::<DeltaError>() {
                return Some(d);
            }
            cur = e.source();
        }
        None
    }
}
