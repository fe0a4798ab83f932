//! Rendering shared by the commands: error lines with hints, sizes, times, JSON.
//!
//! Everything a command prints on stdout goes through [`outln!`] or [`print_json`], which return
//! the write error instead of panicking as `println!` does: a closed stdout (`verify DIR | head`)
//! then ends the command through `main`, which counts a broken pipe as success.

use std::io::{self, Write};

/// `println!` on stdout that returns an `io::Result` instead of panicking when stdout is closed.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}
pub(crate) use outln;

use serde::Serialize;

/// Prints `pverescue: <cause chain>` and, when a library knows one, a `hint:` line, on stderr.
/// Control characters that came from an archive or a file name are escaped ([`text`]).
/// `command` is the subcommand that failed (`extract`), for hints that name its flags.
pub fn print_error(err: &anyhow::Error, command: &str) {
    let line = error_line(err);
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "pverescue: {}", text(&line));
    if let Some(hint) = cli_hint(err, command).or_else(|| hint(err)) {
        let _ = writeln!(stderr, "hint: {}", text(&hint));
    }
}

/// A name from an archive (config, device) as one token on one line, for human output.
///
/// A backslash becomes `\\`; ASCII space and control characters become `\xHH`; other Unicode
/// whitespace, control and invisible formatting characters (bidi overrides, zero-width) become
/// `\u{HHHH}`. Everything else, non-ASCII letters included, is printed as is. So a name can
/// neither add a line (`DEV:` lines that qmrestore's parser would accept), nor drive the terminal
/// (ANSI escapes), nor split into two `\S+` tokens, and the escaping can be undone. JSON output
/// keeps the exact names.
pub fn name(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, true)
}

/// Free text that may quote archive names or file names (errors, verdicts, drill reports):
/// like [`name`], but spaces and backslashes are kept, since the text is read, not parsed.
pub fn text(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, false)
}

fn escape(s: &str, token: bool) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    let unsafe_char = |c: char| {
        if c.is_ascii() {
            c.is_ascii_control() || (token && (c == ' ' || c == '\\'))
        } else {
            c.is_control() || c.is_whitespace() || is_invisible_format(c)
        }
    };
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_ascii() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Unicode format characters that change how a line looks without printing anything: bidi
/// marks, embeddings, overrides and isolates, zero-width characters, the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(u32::from(c), 0xad | 0x61c | 0x180e | 0x200b..=0x200f | 0x202a..=0x202e
        | 0x2060..=0x2069 | 0xfeff)
}

/// Prints `pverescue: <error>` and a hint, for errors whose hint the command computes.
pub fn print_failure(err: &anyhow::Error, hint: Option<String>) {
    eprintln!("pverescue: {}", error_line(err));
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    }
}

/// The whole cause chain of an error on one line, outermost first, separated by `: `.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        // io::Error wrapping a library error repeats the inner message; skip exact repeats.
        if i > 0 && line.ends_with(&text) {
            continue;
        }
        if i > 0 {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Hints that depend on what the command line can do, where a library's advice is generic or
/// names a flag the failing command does not have.
fn cli_hint(err: &anyhow::Error, command: &str) -> Option<String> {
    for cause in err.chain() {
        let cause = cause
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .map_or(cause, |inner| inner as &(dyn std::error::Error + 'static));
        // Every input has been decompressed already: "decompress it first" is wrong here.
        if let Some(vma::Error::BadMagic { at: 0, .. }) = cause.downcast_ref::<vma::Error>() {
            return Some(
                "this is not a VMA archive (any compression was already undone): list, config \
                 and extract read VM backups (vzdump-qemu-…); a container backup \
                 (vzdump-lxc-….tar) is checked with `pverescue verify`"
                    .into(),
            );
        }
        // The sink's errors arrive alone or inside a vma::Error; its TargetExists hint already
        // names --force.
        let sink_error =
            cause
                .downcast_ref::<sink::Error>()
                .or(match cause.downcast_ref::<vma::Error>() {
                    Some(vma::Error::Sink(e)) => Some(&**e),
                    _ => None,
                });
        if let Some(sink::Error::InvalidTarget { reason }) = sink_error
            && reason.contains("no directory")
        {
            return Some(format!(
                "give a directory to restore into (pverescue {command} ARCHIVE DIR), or send \
                 every disk elsewhere with --map DRIVE=DEVICE|FILE|skip"
            ));
        }
        if let Some(d) = cause.downcast_ref::<backupset::DeltaError>() {
            // merge takes the full as its first argument; it has no --base flag.
            if command == "merge" && d.backup {
                let given = d.base.rsplit('/').next().unwrap_or(&d.base);
                let named = d.made_against.as_deref()?;
                let strip = backupset::name::strip_compression;
                if strip(named) != strip(given) {
                    return Some(format!(
                        "this differential was made against {named}, not {given}: give that full \
                         first (pverescue merge FULL DIFF -o OUT)"
                    ));
                }
            }
        }
    }
    None
}

/// Finds the first library error in the chain that carries a hint.
pub fn hint(err: &anyhow::Error) -> Option<String> {
    for cause in err.chain() {
        if let Some(h) = library_hint(cause) {
            return Some(h);
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if let Some(h) = io.get_ref().and_then(|e| library_hint(e)) {
                return Some(h);
            }
            match io.kind() {
                io::ErrorKind::AlreadyExists => {
                    return Some("choose another name, or remove the existing file first".into());
                }
                io::ErrorKind::PermissionDenied => {
                    return Some("check the file permissions, or run as root".into());
                }
                _ => {}
            }
        }
    }
    None
}

fn library_hint(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(v) = e.downcast_ref::<serve::Error>() {
        return v.hint();
    }
    if let Some(v) = e.downcast_ref::<vma::Error>() {
        return v.hint();
    }
    if let Some(u) = e.downcast_ref::<unpack::Error>() {
        return u.hint();
    }
    if let Some(d) = e.downcast_ref::<backupset::DeltaError>() {
        return d.hint();
    }
    if let Some(b) = e.downcast_ref::<backupset::Error>() {
        return b.hint();
    }
    if let Some(v) = e.downcast_ref::<vcdiff::Error>() {
        return v.hint();
    }
    if let Some(n) = e.downcast_ref::<crate::targets::NeedsYes>() {
        return Some(n.hint().to_owned());
    }
    if let Some(s) = e.downcast_ref::<sink::Error>() {
        return s.hint();
    }
    if let Some(b) = e.downcast_ref::<blockdev::Error>() {
        return b.hint();
    }
    if let Some(p) = e.downcast_ref::<partitions::Error>() {
        return p.hint();
    }
    if let Some(p) = e.downcast_ref::<partitions::SelectError>() {
        return p.hint();
    }
    if let Some(l) = e.downcast_ref::<loopmount::Error>() {
        return l.hint();
    }
    if let Some(p) = e.downcast_ref::<pbs::Error>() {
        return p.hint();
    }
    if let Some(p) = e.downcast_ref::<pxar::Error>() {
        return p.hint();
    }
    if let Some(f) = e.downcast_ref::<fsread::Error>() {
        return f.hint();
    }
    if let Some(v) = e.downcast_ref::<virtnbd::Error>() {
        return v.hint();
    }
    None
}

/// True when the error is a closed stdout (`pverescue config … | head`): that counts as success.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes `value` as pretty JSON plus a newline on stdout.
///
/// The text is built first and written with `write_all`, so a closed stdout surfaces as an
/// `io::Error` (which `main` counts as success); `serde_json::Error` would hide it from the
/// cause chain.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    let mut out = io::stdout().lock();
    out.write_all(&text)?;
    out.flush()?;
    Ok(())
}

/// Formats seconds since the epoch like C's `ctime(3)` in the local time zone (`TZ`), as `vma
/// list` prints its `CTIME:` line: `Fri Nov 20 21:00:03 2026`.
pub fn ctime(seconds: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(seconds) else {
        return format!("@{seconds}");
    };
    let zoned = ts.to_zoned(jiff::tz::TimeZone::system());
    zoned.strftime("%a %b %e %H:%M:%S %Y").to_string()
}

/// Formats seconds since the epoch as RFC 3339 UTC for JSON.
pub fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| format!("@{seconds}"), |t| t.to_string())
}

/// Formats a byte count with binary units: `40.0 MiB`, `512 B`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats a uuid the way libuuid prints it.
pub fn uuid(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Parses a uuid in 8-4-4-4-12 form (dashes optional).
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry finds every library's hint through the context the commands add, and through
    /// an `io::Error` carrying the library error; each expected hint is the library's own.
    #[test]
    fn issue11_every_library_hint_is_found_through_context() {
        fn check<E: std::error::Error + Send + Sync + 'static>(e: E, want: Option<String>) {
            let name = std::any::type_name::<E>();
            let want = want.unwrap_or_else(|| panic!("{name}: the sample has no hint"));
            let err = anyhow::Error::new(e).context("file.vma: step");
            assert_eq!(hint(&err).as_deref(), Some(want.as_str()), "{name}");
        }
        let p = partitions::Error::Truncated {
            what: "GPT header",
            at: 512,
            needed: 92,
            available: 0,
        };
        let want = p.hint();
        check(p, want);
        let s = sink::Error::TargetExists {
            path: "/tmp/x".into(),
        };
        let want = s.hint();
        check(s, want);
        let v = vma::Error::MissingCluster {
            device: "drive-scsi0".into(),
            cluster: 3,
        };
        let want = v.hint();
        check(v, want);
        let u = unpack::Error::Truncated {
            format: unpack::Format::Zstd,
            what: "a zstd frame".into(),
            at: 10,
            complete_blocks: None,
        };
        let want = u.hint();
        // Decoder errors reach the commands inside an io::Error.
        check(io::Error::other(u), want);
    }

    #[test]
    fn uuid_round_trip() {
        let text = "6a1d2f64-3b7e-4c55-9b1e-0d2a7c9e1f01";
        let bytes = parse_uuid(text).expect("valid uuid");
        assert_eq!(uuid(&bytes), text);
        assert_eq!(parse_uuid("zz"), None);
    }

    #[test]
    fn names_are_one_token_on_one_line() {
        assert_eq!(name("drive-scsi0"), "drive-scsi0");
        assert_eq!(name("a b\nDEV: x"), "a\\x20b\\x0aDEV:\\x20x");
        assert_eq!(name("\u{1b}[31mred"), "\\x1b[31mred");
        assert_eq!(name("a\\b"), "a\\\\b");
        assert_eq!(
            name("Überweisung\u{202e}\u{a0}"),
            "Überweisung\\u{202e}\\u{00a0}"
        );
        assert_eq!(text("cannot read a b\\c\n"), "cannot read a b\\c\\x0a");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(41943040), "40.0 MiB");
    }
}
