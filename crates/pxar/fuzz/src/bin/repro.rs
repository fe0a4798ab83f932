//! Reproducer: `repro FILE...` (or stdin) runs the `pxar_read` checks outside libFuzzer;
//! `repro --seeds DIR` writes the initial corpus (`DIR/pxar_read/…`).

use std::io::Read;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--seeds") {
        let dir = args.get(1).map_or("corpus", String::as_str);
        std::fs::create_dir_all(format!("{dir}/pxar_read"))?;
        for (name, bytes) in pxar_fuzz::seeds() {
            std::fs::write(format!("{dir}/pxar_read/seed-{name}"), bytes)?;
        }
        return Ok(());
    }
    if args.is_empty() {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        pxar_fuzz::check(&data);
    }
    for path in &args {
        pxar_fuzz::check(&std::fs::read(path)?);
        eprintln!("{path}: ok");
    }
    Ok(())
}
