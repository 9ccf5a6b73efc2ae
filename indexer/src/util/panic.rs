//! Panics the pipeline recovers from. [`catch`] runs a closure and turns a panic inside it
//! into a [`Caught`] (message and location) instead of unwinding further; the hook
//! [`install_hook`] sets up keeps such a panic out of stderr, so that the code that caught it
//! logs it once, with what it was doing (the event's coordinates). Panics outside [`catch`]
//! go to the previous hook, as always.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catch`].
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The last panic the hook saw on this thread while catching.
    static LAST: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

/// A caught panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caught {
    /// What it said.
    pub message: String,
    /// `file:line:column`, when known.
    pub location: Option<String>,
}

impl fmt::Display for Caught {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{} at {at}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

/// Installs the hook that records panics inside [`catch`] instead of printing them (once
/// per process; later calls do nothing).
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                let caught = Caught {
                    message: text(info.payload()),
                    location: info.location().map(|l| l.to_string()),
                };
                LAST.with(|last| *last.borrow_mut() = Some(caught));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it is returned as [`Caught`]. Whatever `f` was changing when it
/// panicked must be thrown away by the caller (the pipeline restarts from its last commit).
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Caught> {
    let outer = CATCHING.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(outer));
    result.map_err(|payload| {
        LAST.with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| Caught {
                message: text(payload.as_ref()),
                location: None,
            })
    })
}

/// A failpoint of the fault tests: `FAILPOINTS=NAME=return(ID)` makes the code at failpoint
/// `NAME` panic when it handles `ID` (a stand-in for a bug one event triggers). Does nothing
/// without the `failpoints` feature (which only test builds have). The failpoints:
/// `ingest::decode` (ID: the message key), `ingest::apply` (ID: the product id).
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub fn failpoint(name: &str, id: &str) {
    fail::fail_point!(name, |wanted: Option<String>| {
        if wanted.as_deref() == Some(id) {
            panic!("injected by the {name} failpoint at {id}");
        }
    });
}

/// A failpoint with no argument, for delays (`FAILPOINTS=ingest::poll=sleep(500)`): a
/// no-op without the `failpoints` feature. The failpoint: `ingest::poll` (before each poll
/// of the source).
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub fn pause_point(name: &str) {
    fail::fail_point!(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_catch_is_returned_with_its_message_and_location() {
        install_hook();
        let caught = catch(|| -> u32 { panic!("poison at {}", 42) }).unwrap_err();
        assert_eq!(caught.message, "poison at 42");
        let at = caught.location.expect("the hook saw the location");
        assert!(at.starts_with("indexer/src/util/panic.rs:"), "{at}");
        assert_eq!(catch(|| 7), Ok(7));
    }

    #[test]
    fn nested_catches_restore_the_outer_state() {
        install_hook();
        let outer = catch(|| {
            let inner = catch(|| panic!("inner"));
            assert!(inner.is_err());
            assert!(CATCHING.with(Cell::get), "still inside the outer catch");
            1
        });
        assert_eq!(outer, Ok(1));
        assert!(!CATCHING.with(Cell::get));
    }
}
