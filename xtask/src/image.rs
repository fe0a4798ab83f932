//! `cargo xtask image`: the `FROM scratch` OCI image, written without any container daemon.
//!
//! One layer: `/pverescue` (the static binary from `cargo xtask dist`, the entrypoint), a minimal
//! `/etc/passwd` and `/etc/group` (root and nobody, numeric ids only), and an empty `/tmp`. The
//! layer tar has fixed owners (0:0), times (0) and order, and is gzipped without a timestamp, so
//! the same binary always gives byte-identical output. Written under `target/dist/`:
//!
//! - `oci/`: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), tags `latest`
//!   and the version (`skopeo copy oci:target/dist/oci:latest …`, `podman run oci:…`);
//! - `pverescue-image.tar`: the same layout in one tar plus a Docker `manifest.json`, so both
//!   `docker load -i` and OCI tools read it;
//! - `pverescue-rootfs.tar`: the uncompressed layer, which `container/Containerfile` ADDs to build
//!   the same filesystem with `docker build`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::dist::{self, DetTar, gzip, hex, write_atomic};

/// The image's `/etc/passwd`: numeric ids are all pverescue uses; this is for tools that look.
pub const PASSWD: &str = "root:x:0:0:root:/:/pverescue\nnobody:x:65534:65534:nobody:/:/pverescue\n";
/// The image's `/etc/group`.
pub const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// The repository URL recorded in the image labels.
const SOURCE: &str = "https://example.invalid/pverescue";
const LICENSES: &str = "MIT OR Apache-2.0";

/// What `write` produced.
pub struct Image {
    /// `<out>/pverescue-image.tar`.
    pub archive: PathBuf,
    /// `<out>/oci`.
    pub layout: PathBuf,
    /// `<out>/pverescue-rootfs.tar`.
    pub rootfs: PathBuf,
    /// Tags written into the archive, e.g. `pverescue:0.1.0`.
    pub tags: Vec<String>,
    /// `sha256:…` of the uncompressed layer.
    pub diff_id: String,
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("cargo xtask image takes no options (got {a})");
    }
    let d = dist::build()?;
    let img = write(&d.binary, &d.version, &dist::dist_dir())?;
    let size = fs::metadata(&img.archive)?.len();
    println!("{}", img.layout.display());
    println!("{} ({size} bytes)", img.archive.display());
    println!("load it: docker load -i {}", img.archive.display());
    Ok(())
}

/// Writes the image for `binary` into `out` (`oci/`, `pverescue-image.tar`, `pverescue-rootfs.tar`).
pub fn write(binary: &Path, version: &str, out: &Path) -> Result<Image> {
    let bin = fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let mut layer = DetTar::new(0);
    layer.dir("etc/")?;
    layer.file("etc/group", GROUP.as_bytes(), 0o644)?;
    layer.file("etc/passwd", PASSWD.as_bytes(), 0o644)?;
    layer.file("pverescue", &bin, 0o755)?;
    layer.dir_mode("tmp/", 0o1777)?;
    let layer_tar = layer.finish()?;
    let diff_id = format!("sha256:{}", hex(&Sha256::digest(&layer_tar)));
    let layer_gz = gzip(&layer_tar)?;

    let created = rfc3339(dist::source_date_epoch())?;
    let revision = crate::output(
        std::process::Command::new("git")
            .current_dir(crate::root())
            .args(["rev-parse", "HEAD"]),
    )
    .map(|s| s.trim().to_owned())
    .unwrap_or_else(|_| "unknown".into());
    let labels = json!({
        "org.opencontainers.image.title": "pverescue",
        "org.opencontainers.image.description":
            "Restore Proxmox VE backups on any Linux machine, with one static binary",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.licenses": LICENSES,
        "org.opencontainers.image.created": created,
    });
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "User": "0:0",
            "Entrypoint": ["/pverescue"],
            "Cmd": ["--help"],
            "WorkingDir": "/",
            "Env": ["PATH=/", "TZ=UTC"],
            "Labels": labels,
        },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "created_by": "cargo xtask image" }],
    });
    let config = serde_json::to_vec(&config)?;
    let config_digest = hex(&Sha256::digest(&config));
    let layer_digest = hex(&Sha256::digest(&layer_gz));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer_gz.len(),
        }],
        "annotations": labels,
    }))?;
    let manifest_digest = hex(&Sha256::digest(&manifest));
    let descriptor = |tag: &str| {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "annotations": {
                "org.opencontainers.image.ref.name": tag,
                "io.containerd.image.name": format!("docker.io/library/pverescue:{tag}"),
            },
        })
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor(version), descriptor("latest")],
    }))?;
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();
    let tags = vec![
        format!("pverescue:{version}"),
        "pverescue:latest".to_owned(),
    ];
    // What `docker load` reads (Docker 20.10 does not read OCI layouts; 25+ reads both).
    let docker_manifest = serde_json::to_vec(&json!([{
        "Config": format!("blobs/sha256/{config_digest}"),
        "RepoTags": tags,
        "Layers": [format!("blobs/sha256/{layer_digest}")],
    }]))?;

    let mut blobs = vec![
        (config_digest, config),
        (layer_digest, layer_gz),
        (manifest_digest, manifest),
    ];
    blobs.sort_by(|a, b| a.0.cmp(&b.0));

    // The OCI layout directory.
    let oci = out.join("oci");
    if oci.exists() {
        fs::remove_dir_all(&oci).with_context(|| format!("cannot clear {}", oci.display()))?;
    }
    fs::create_dir_all(oci.join("blobs/sha256"))?;
    for (digest, data) in &blobs {
        fs::write(oci.join("blobs/sha256").join(digest), data)?;
    }
    fs::write(oci.join("index.json"), &index)?;
    fs::write(oci.join("oci-layout"), &layout)?;

    // The same layout as one tar, plus Docker's manifest.json.
    let mut archive = DetTar::new(0);
    archive.dir("blobs/")?;
    archive.dir("blobs/sha256/")?;
    for (digest, data) in &blobs {
        archive.file(&format!("blobs/sha256/{digest}"), data, 0o644)?;
    }
    archive.file("index.json", &index, 0o644)?;
    archive.file("manifest.json", &docker_manifest, 0o644)?;
    archive.file("oci-layout", &layout, 0o644)?;
    let archive_path = out.join("pverescue-image.tar");
    write_atomic(&archive_path, &archive.finish()?)?;
    let rootfs = out.join("pverescue-rootfs.tar");
    write_atomic(&rootfs, &layer_tar)?;
    Ok(Image {
        archive: archive_path,
        layout: oci,
        rootfs,
        tags,
        diff_id,
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch, by coreutils `date`.
fn rfc3339(secs: u64) -> Result<String> {
    let out = crate::output(
        std::process::Command::new("date")
            .arg("-u")
            .arg(format!("--date=@{secs}"))
            .arg("+%Y-%m-%dT%H:%M:%SZ"),
    )?;
    Ok(out.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600).unwrap(), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3661).unwrap(), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn two_writes_are_byte_identical() {
        let base = std::env::temp_dir().join(format!("xtask-image-{}", std::process::id()));
        let bin = base.join("pverescue");
        fs::create_dir_all(&base).unwrap();
        fs::write(&bin, b"\x7fELF not really").unwrap();
        let (a, b) = (base.join("a"), base.join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        let ia = write(&bin, "9.9.9", &a).unwrap();
        let ib = write(&bin, "9.9.9", &b).unwrap();
        assert_eq!(
            fs::read(&ia.archive).unwrap(),
            fs::read(&ib.archive).unwrap()
        );
        assert_eq!(ia.diff_id, ib.diff_id);
        fs::remove_dir_all(&base).unwrap();
    }
}
