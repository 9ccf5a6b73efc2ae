//! Disk space: how much the data directory's filesystem has left, and whether a failure is
//! that filesystem being full.
//!
//! Tantivy loses the cause of most write failures: a segment serialised on its indexing
//! threads fails as "an index writer was killed … (io::Error most likely)", a string. So a
//! failure counts as *out of space* when an `ENOSPC`/`EDQUOT` is found anywhere in it
//! ([`is_out_of_space`]), or when an index write failed while the filesystem has less room
//! left than the writer's memory budget ([`free_bytes`]): the next segment it flushes is about
//! that large, so it cannot fit.

use std::error::Error;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Space of a filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Available to this (unprivileged) process.
    pub free: u64,
    /// The filesystem's size.
    pub total: u64,
}

/// The space of the filesystem holding `path` (`None` when it cannot be asked).
pub fn space(path: &Path) -> Option<DiskSpace> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid NUL-terminated string and `stat` is written by the call
    // before it is read (only when it returns 0).
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    let block = stat.f_frsize as u64;
    Some(DiskSpace {
        free: (stat.f_bavail as u64).saturating_mul(block),
        total: (stat.f_blocks as u64).saturating_mul(block),
    })
}

/// Bytes available on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    space(path).map(|s| s.free)
}

/// Whether `error`, or an error it wraps, is "no space left on device" or "disk quota
/// exceeded".
pub fn is_out_of_space(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io_out_of_space(io) {
                return true;
            }
        }
        if let Some(tantivy::TantivyError::IoError(io)) = e.downcast_ref::<tantivy::TantivyError>()
        {
            if io_out_of_space(io) {
                return true;
            }
        }
        // Causes kept only as text (errors of Tantivy's threads, wrapped messages).
        let text = e.to_string();
        if text.contains("No space left on device") || text.contains("Disk quota exceeded") {
            return true;
        }
        next = e.source();
    }
    false
}

fn io_out_of_space(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(
        error.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("commit failed")]
    struct Wrapper(#[source] io::Error);

    #[test]
    fn out_of_space_is_found_typed_wrapped_or_as_text() {
        let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(is_out_of_space(&enospc));
        assert!(is_out_of_space(&io::Error::from_raw_os_error(libc::EDQUOT)));
        assert!(is_out_of_space(&Wrapper(io::Error::from_raw_os_error(
            libc::ENOSPC
        ))));
        let tantivy = tantivy::TantivyError::from(io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(is_out_of_space(&tantivy));
        let text = tantivy::TantivyError::ErrorInThread(
            "write failed: No space left on device (os error 28)".to_owned(),
        );
        assert!(is_out_of_space(&text));
    }

    #[test]
    fn other_failures_are_not_out_of_space() {
        assert!(!is_out_of_space(&io::Error::from_raw_os_error(
            libc::EACCES
        )));
        assert!(!is_out_of_space(&Wrapper(io::Error::other("broken pipe"))));
        let killed = tantivy::TantivyError::ErrorInThread(
            "An index writer was killed.. A worker thread encountered an error (io::Error most likely) or panicked.".to_owned(),
        );
        assert!(
            !is_out_of_space(&killed),
            "the killed writer alone says nothing"
        );
    }

    #[test]
    fn the_space_of_a_real_directory_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let found = space(dir.path()).unwrap();
        assert!(found.total > 0 && found.free <= found.total, "{found:?}");
        assert_eq!(space(Path::new("/no/such/dir")), None);
    }
}
