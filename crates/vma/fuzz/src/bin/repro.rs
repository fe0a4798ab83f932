//! Reproducer: `repro FILE...` (or stdin) runs the `vma_read` checks outside libFuzzer.
//! `repro --seeds DIR` writes the initial corpus; `repro --outcome FILE...` prints how each read ends.

use std::io::Read;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--seeds") {
        let dir = args.get(1).map_or("corpus/vma_read", String::as_str);
        std::fs::create_dir_all(dir)?;
        for (name, bytes) in vma_fuzz::seeds() {
            std::fs::write(format!("{dir}/seed-{name}"), bytes)?;
        }
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("--outcome") {
        for path in &args[1..] {
            println!("{}", vma_fuzz::outcome(&std::fs::read(path)?));
        }
        return Ok(());
    }
    if args.is_empty() {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        vma_fuzz::check(&data);
    }
    for path in &args {
        vma_fuzz::check(&std::fs::read(path)?);
        eprintln!("{path}: ok");
    }
    Ok(())
}
