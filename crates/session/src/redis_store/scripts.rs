//! The Lua scripts that make the store's read-modify-writes atomic in Redis
//! (each in a `.lua` file next to this one, so it reads and diffs as Lua).

/// Replaces the record if it is still at generation `ARGV[1]`. Returns 1
/// (stored), 0 (no session), or the current record (conflict).
pub(super) const CAS_SCRIPT: &str = include_str!("compare_and_store.lua");

/// Writes a record back unless Redis holds the same or a newer generation.
pub(super) const RESTORE_SCRIPT: &str = include_str!("restore.lua");

/// Takes (or renews, for the same holder) the lease on a re-initialize. 1: granted.
pub(super) const CLAIM_SCRIPT: &str = include_str!("claim_reinit.lua");

/// Ends the lease if this holder still has it.
pub(super) const RELEASE_SCRIPT: &str = include_str!("release_reinit.lua");
