//! API CONTRACT STUB — replaced by the real implementation (see the helper brief).
