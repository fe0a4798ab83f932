//! Decodes a VCDIFF delta like `xdelta3 -d -s SOURCE DELTA OUT`, for manual checks and timing.
//!
//! `cargo run --release -p vcdiff --example decode -- SOURCE DELTA OUT [--seekable]`
//! Without `--seekable` the source is read forward only, as from a pipe. Setting
//! `VCDIFF_NO_VERIFY` skips the Adler-32 checks (to measure their share of the time).

use std::fs::File;
use std::io::{BufReader, Write};
use std::process::ExitCode;

use vcdiff::{Decoder, ForwardSource, Options, SeekableSource, SourceRead};

fn decode<S: SourceRead>(source: S, delta: File, out: File) -> Result<u64, vcdiff::Error> {
    let verify = std::env::var_os("VCDIFF_NO_VERIFY").is_none();
    let opts = Options::default().verify_checksums(verify);
    let mut decoder = Decoder::new(source, BufReader::new(delta), opts)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    while let Some(window) = decoder.next_window()? {
        out.write_all(window)
            .map_err(|source| vcdiff::Error::OutputIo { at: 0, source })?;
    }
    out.flush()
        .map_err(|source| vcdiff::Error::OutputIo { at: 0, source })?;
    Ok(decoder.output_len())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: decode SOURCE DELTA OUT [--seekable]");
        return ExitCode::from(2);
    }
    let open = |p: &str| File::open(p).map_err(|e| eprintln!("{p}: {e}")).ok();
    let (Some(source), Some(delta)) = (open(&args[0]), open(&args[1])) else {
        return ExitCode::from(2);
    };
    let out = match File::create(&args[2]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {e}", args[2]);
            return ExitCode::from(2);
        }
    };
    let result = if args.get(3).is_some_and(|a| a == "--seekable") {
        decode(SeekableSource(source), delta, out)
    } else {
        decode(ForwardSource(source), delta, out)
    };
    match result {
        Ok(n) => {
            eprintln!("{n} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
