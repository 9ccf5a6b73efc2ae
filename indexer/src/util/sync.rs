//! Locks that survive a panic of another holder.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, taking the data even if a thread panicked while holding it: every mutex of
/// this crate guards plain data (figures, reports, modes) that stays meaningful after a
/// panic elsewhere, and a poisoned lock must not take the service down with it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
