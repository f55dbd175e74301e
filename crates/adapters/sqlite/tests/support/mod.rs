//! What the SQLite test files share: a temporary folder per test, removed when dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A folder of its own for one test, removed when dropped. Not created: the store must
/// create its own folder.
#[derive(Debug)]
pub struct TempFolder(pub PathBuf);

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, unique folder name under the system's temp folder, tagged with `purpose`.
pub fn temp_folder(purpose: &str) -> TempFolder {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name =
        format!("evo-sqlite-{purpose}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    TempFolder(std::env::temp_dir().join(name))
}
