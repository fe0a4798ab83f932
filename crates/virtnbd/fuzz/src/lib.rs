//! The check behind the `stream` fuzz target: a virtnbdbackup stream file is indexed, decoded and
//! restored; what the reader accepts must hold together, not just "not crash".

use std::path::Path;
use std::sync::Arc;

use diskview::ReadAt;
use virtnbd::file::Payload;

/// Counts what a restore writes and checks that it stays on the disk, in order, once.
struct Count {
    size: u64,
    next: u64,
    data: u64,
}

impl Count {
    fn at(&mut self, at: u64, len: u64) {
        assert_eq!(at, self.next, "writes come in disk order without gaps or overlaps");
        let end = at.checked_add(len).expect("no overflow");
        assert!(end <= self.size, "a write ends at {end}, past the disk's {}", self.size);
        self.next = end;
    }
}

impl virtnbd::Out for Count {
    type Error = virtnbd::Error;

    fn write(&mut self, at: u64, data: &[u8]) -> virtnbd::Result<()> {
        self.at(at, data.len() as u64);
        self.data += data.len() as u64;
        Ok(())
    }

    fn zero(&mut self, at: u64, len: u64) -> virtnbd::Result<()> {
        self.at(at, len);
        Ok(())
    }
}

/// Indexes `data` as a stream file; when accepted, checks the index, decodes everything and
/// restores the disk it describes.
pub fn check_stream(data: &[u8]) {
    let Ok(file) = virtnbd::DataFile::from_view(Path::new("fuzz"), Box::new(data.to_vec()), None)
    else {
        return;
    };
    let size = file.meta.virtual_size;
    let mut end = 0u64;
    let mut sum = 0u64;
    for f in &file.frames {
        assert!(f.start >= end, "frames ascend and never overlap");
        end = f.start + f.len;
        assert!(end <= size, "frames stay on the disk");
        if let Payload::Plain(at) = f.payload {
            assert!(at + f.len <= data.len() as u64, "plain payloads lie in the file");
        }
        if !matches!(f.payload, Payload::Zero) {
            sum += f.len;
        }
    }
    assert_eq!(sum, file.meta.data_size, "the data frames add up to dataSize");
    let checked = file.check(&mut |_| {});
    let file = Arc::new(file);
    let Ok(disk) = virtnbd::DiskAt::new(vec![file]) else { return };
    assert_eq!(disk.size(), size);
    let mut out = Count { size, next: 0, data: 0 };
    let restored = disk.restore(&mut out, &mut |_| {});
    if let Ok(report) = &restored {
        assert_eq!(out.next, size, "a restore covers the whole disk");
        assert_eq!(report.data_bytes, out.data);
        assert!(checked.is_ok(), "what restores also checks");
    }
    if checked.is_ok() {
        assert!(restored.is_ok(), "what checks also restores: {restored:?}");
    }
    // Random reads agree with the restore's bounds.
    let mut b = [0u8; 16];
    if size >= 16 {
        let _ = disk.read_exact_at(&mut b, size - 16);
    }
    assert!(disk.read_exact_at(&mut b, size).is_err() || b.is_empty());
}
