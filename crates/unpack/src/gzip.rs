//! gzip files of one or more members (`pigz --rsyncable` and concatenated files), with bytes after
//! the last member reported as a warning rather than an error, as `gzip -d` does ("trailing
//! garbage ignored"): a backup copied onto a medium that padded it still restores.

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

use crate::Format;
use crate::sniff::trailing_data;

/// The two bytes every gzip member starts with.
const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decodes every gzip member of `inner` in turn; see the module documentation.
pub(crate) struct GzMembers<R: BufRead> {
    state: State<R>,
    warnings: Vec<String>,
}

enum State<R: BufRead> {
    /// Decoding a member.
    Member(Box<GzDecoder<Consumed<R>>>),
    /// Between members (or after the last one).
    Between(Consumed<R>),
    Done,
}

impl<R: BufRead> GzMembers<R> {
    /// Wraps `inner`, which starts at the first member.
    pub(crate) fn new(inner: R) -> Self {
        GzMembers {
            state: State::Member(Box::new(GzDecoder::new(Consumed { inner, count: 0 }))),
            warnings: Vec::new(),
        }
    }

    /// Trailing data found after the last member; complete once `read` has returned 0.
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// At a member boundary: starts the next member, or ends (warning about what is not one).
    fn next_member(&mut self, mut inner: Consumed<R>) -> io::Result<State<R>> {
        let at = inner.count;
        let head = inner.fill_buf()?;
        if head.is_empty() {
            return Ok(State::Done);
        }
        if head.len() >= MAGIC.len() && head[..MAGIC.len()] == MAGIC
            || head.len() < MAGIC.len() && head[0] == MAGIC[0]
        {
            return Ok(State::Member(Box::new(GzDecoder::new(inner))));
        }
        let rest = io::copy(&mut inner, &mut io::sink())?;
        self.warnings.push(trailing_data(Format::Gzip, rest, at));
        Ok(State::Done)
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(0),
                State::Member(mut d) => match d.read(buf) {
                    Ok(0) => self.state = State::Between(d.into_inner()),
                    Ok(n) => {
                        self.state = State::Member(d);
                        return Ok(n);
                    }
                    // A failed member leaves the reader done: nothing after it can be trusted.
                    Err(e) => return Err(e),
                },
                State::Between(inner) => self.state = self.next_member(inner)?,
            }
        }
    }
}

/// A [`BufRead`] that counts the bytes consumed, for the offsets in warnings.
struct Consumed<R> {
    inner: R,
    count: u64,
}

impl<R: BufRead> Read for Consumed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Consumed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.count += amt as u64;
        self.inner.consume(amt);
    }
}
