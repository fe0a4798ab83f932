//! Reproducer: `repro TARGET FILE...` (or stdin) runs a fuzz target's checks outside libFuzzer.
//! `repro --seeds STORE DIR` writes the initial corpora (`DIR/<target>/…`) from a datastore such
//! as `shared/fixtures/pbs/datastore`.

use std::io::Read;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--seeds") {
        let store = args
            .get(1)
            .map_or("../../../../shared/fixtures/pbs/datastore", String::as_str);
        let dir = args.get(2).map_or("corpus", String::as_str);
        for (target, name, bytes) in pbs_fuzz::seeds(store.as_ref()) {
            std::fs::create_dir_all(format!("{dir}/{target}"))?;
            std::fs::write(format!("{dir}/{target}/seed-{name}-{}", bytes.len()), bytes)?;
        }
        return Ok(());
    }
    let Some(target) = args.first() else {
        eprintln!("usage: repro blob|index|manifest [FILE...] | repro --seeds [STORE [DIR]]");
        std::process::exit(2);
    };
    let check: fn(&[u8]) = match target.as_str() {
        "blob" => pbs_fuzz::check_blob,
        "index" => pbs_fuzz::check_index,
        "manifest" => pbs_fuzz::check_manifest,
        other => {
            eprintln!("unknown target {other}");
            std::process::exit(2);
        }
    };
    if args.len() == 1 {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        check(&data);
    }
    for path in &args[1..] {
        check(&std::fs::read(path)?);
        eprintln!("{path}: ok");
    }
    Ok(())
}
