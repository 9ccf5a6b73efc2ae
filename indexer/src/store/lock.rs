//! One process per data directory: an exclusive lock on `DATA_DIR/LOCK`, held for the
//! process's life (released by the OS when the process ends, even by `kill -9`).

use std::fs::File;

use super::{IndexStore, StoreError};

/// The lock of a data directory; released when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl IndexStore {
    /// Locks the data directory for this process, or fails if another process holds it.
    pub fn lock(&self) -> Result<DataDirLock, StoreError> {
        let path = self.root().join("LOCK");
        let file = File::create(&path).map_err(|source| StoreError::Lock {
            path: path.clone(),
            source,
        })?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(StoreError::Locked(self.root().to_owned()))
            }
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Lock { path, source }),
        }
    }
}
