//! API CONTRACT STUB — to be replaced by the real implementation (see the helper brief).
//!
//! Public API the CLI relies on (names and signatures must stay; additions are fine):
//!
//! ```text
//! pub const CLUSTER_SIZE: u64 = 65536; pub const BLOCK_SIZE: u64 = 4096;
//! pub struct Header { pub uuid: [u8;16], pub ctime: i64, pub header_size: u32,
//!                     pub configs: Vec<Config>, pub devices: Vec<Device> }
//! pub struct Config { pub name: String, pub data: Vec<u8> }
//! pub struct Device { pub id: u8, pub name: String, pub size: u64 }   // Device::is_vmstate(), Device::clusters()
//! pub struct Reader<R: Read>;  Reader::new(R) -> Result<Self>; .header() -> &Header;
//!     .next_cluster() -> Result<Option<Cluster<'_>>>; .finish(self) -> Result<Summary>; .position() -> u64
//! pub struct Cluster<'a> { pub dev_id: u8, pub cluster: u32, pub mask: u16, pub data: &'a [u8] }
//!     Cluster::runs(&self, device_size) -> iterator of (byte offset in device, &[u8]) coalesced, clipped
//! pub struct Summary { pub clusters: u64, pub stored_bytes: u64, pub zero_bytes: u64, pub extents: u64, pub bytes_read: u64 }
//! pub struct Writer<W: Write>; Writer::new(W, &NewArchive) -> Result<Self>;
//!     .write_cluster(dev_id, cluster, &[u8]) -> Result<()>; .finish(self) -> Result<W>
//! pub struct NewArchive { pub uuid: [u8;16], pub ctime: i64, pub configs: Vec<Config>, pub devices: Vec<(String, u64)> }
//! pub mod extract: ExtractOptions, Report, extract_to_dir(Reader<R>, &Path, &ExtractOptions, &mut dyn Progress)
//! pub trait Progress { fn clusters(&mut self, done: u64, total: u64) {} }
//! pub enum Error (thiserror, non_exhaustive) with offsets; pub type Result<T>
//! ```
