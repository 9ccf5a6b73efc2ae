//! The live log: the durable side of the live values (issue #15), one file per index
//! generation (`indexes/gen-NNNNNN/live.log`, beside Tantivy's files, which Tantivy never
//! deletes: it only collects the files it made).
//!
//! # Protocol
//!
//! Price and stock changes become visible without a Tantivy commit (see
//! `schemas::values`), so Tantivy's commit cannot be what makes them durable. The writer
//! appends one frame per product it changed on the live path, with the product's current
//! price and inventory records, and **writes the frames of a batch to the file before
//! making the batch visible**: a `kill -9` (the page cache survives the process) never
//! loses a value a shopper has seen. Before every Tantivy commit it syncs the file, so the
//! offsets a commit stores never cover a record the log could lose to a power cut.
//!
//! On start the frames are replayed (later frames replace earlier ones, per product) over
//! the stored states, before the index is served: live values are back before `/ready`.
//! Kafka then resumes from the commit's offsets; the events past them that the log already
//! holds are stale against the replayed records, so nothing is applied twice.
//!
//! A product re-indexed through Tantivy while it has live records gets a fresh frame first
//! (its records as committed), then, once no search can still hold the older reader, a
//! `Forget` frame and its overlay entry goes: a frame is never older than the stored state.
//!
//! The file is compacted ([`LiveLog::rotate`]) when it grows past [`ROTATE_BYTES`] (or twice
//! its last compaction): the overlay's current entries are written to a temporary file,
//! synced, and renamed over the log. A frame is `len: u32 LE, crc32: u32 LE, postcard`; a
//! torn or corrupt tail (a crash during a write) ends the replay there, and the log is cut
//! back to its last whole frame before anything is appended.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use schemas::state::Versioned;
use schemas::values::{OfferList, OfferValues, Overlay, OverlayEntry, ProductValues};
use schemas::{LiveIndex, ProductState};
use serde::{Deserialize, Serialize};

/// The log's file name in an index directory.
pub const LIVE_LOG: &str = "live.log";
/// The log is compacted past this size (or twice its last compaction, if larger).
pub const ROTATE_BYTES: u64 = 64 << 20;
/// A frame longer than this is corruption (no product has that many offers).
const MAX_FRAME: usize = 64 << 20;

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LiveFrame {
    /// The product's live records now (they replace every earlier frame of it).
    Offers {
        /// The product.
        product_id: String,
        /// Price and inventory records of its offers.
        offers: Vec<OfferValues>,
    },
    /// The product's stored state has every record: no live records any more.
    Forget {
        /// The product.
        product_id: String,
    },
    /// One store quantity record, as applied (it replaces every earlier frame of its
    /// `(product, offer, store)`; never forgotten: see `schemas::stores`).
    Stock {
        /// The product.
        product_id: String,
        /// The offer.
        offer_id: String,
        /// The store.
        store_id: String,
        /// The versioned quantity.
        record: Versioned<u64>,
    },
}

/// A frame borrowed for writing: encodes exactly as the [`LiveFrame`] it mirrors (postcard
/// writes an enum's variant index, and a `&str`/slice like a `String`/`Vec`), so a batch's
/// frames are written from the writer's own values, without cloning them.
#[derive(Debug, Clone, Copy, Serialize)]
pub enum FrameRef<'a> {
    /// See [`LiveFrame::Offers`].
    Offers {
        /// The product.
        product_id: &'a str,
        /// Price and inventory records of its offers.
        offers: OfferList<'a>,
    },
    /// See [`LiveFrame::Forget`].
    Forget {
        /// The product.
        product_id: &'a str,
    },
    /// See [`LiveFrame::Stock`].
    Stock {
        /// The product.
        product_id: &'a str,
        /// The offer.
        offer_id: &'a str,
        /// The store.
        store_id: &'a str,
        /// The versioned quantity.
        record: &'a Versioned<u64>,
    },
}

#[cfg(test)]
impl LiveFrame {
    /// The frame, borrowed for [`LiveLog::append`].
    pub fn borrowed(&self) -> FrameRef<'_> {
        match self {
            LiveFrame::Offers { product_id, offers } => FrameRef::Offers {
                product_id,
                offers: OfferList::Values(offers),
            },
            LiveFrame::Forget { product_id } => FrameRef::Forget { product_id },
            LiveFrame::Stock {
                product_id,
                offer_id,
                store_id,
                record,
            } => FrameRef::Stock {
                product_id,
                offer_id,
                store_id,
                record,
            },
        }
    }
}

/// The live log could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("live log {path}: {source}")]
pub struct LiveLogError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> LiveLogError + '_ {
    move |source| LiveLogError {
        path: path.to_owned(),
        source,
    }
}

/// The frames of the log at `path` and the length of its whole frames (a missing file is
/// empty).
pub fn read_frames(path: &Path) -> Result<(Vec<LiveFrame>, u64), LiveLogError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(err(path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(err(path)(e)),
    }
    let mut frames = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_FRAME {
            break;
        }
        let Some(body) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        let Ok(frame) = postcard::from_bytes::<LiveFrame>(body) else {
            break;
        };
        frames.push(frame);
        at += 8 + len;
    }
    if at < bytes.len() {
        tracing::warn!(path = %path.display(), valid_bytes = at, file_bytes = bytes.len(), "live log ends with a torn or corrupt frame; it is cut back to its last whole frame (the events are consumed again from Kafka)");
    }
    Ok((frames, at as u64))
}

/// A postcard output that appends to a buffer in place (`to_allocvec` grows a new vector
/// from empty for every frame, then copies it: that was a fifth of the writer's time on a
/// price stream).
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends `frame` to `out`: length (u32 LE), CRC-32 of the body, body.
fn encode(frame: FrameRef<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    if postcard::serialize_with_flavor(&frame, Append(out)).is_err() {
        // Serializing plain data into a vector cannot fail; never leave half a frame.
        out.truncate(start);
        return;
    }
    let body = start + 8;
    let len = (out.len() - body) as u32;
    let crc = crc32fast::hash(&out[body..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..body].copy_from_slice(&crc.to_le_bytes());
}

/// The writer's handle on the log.
pub struct LiveLog {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
    bytes: u64,
    /// Written since the last sync.
    unsynced: bool,
    /// Size right after the last compaction.
    compacted: u64,
    /// Compact past this size (or twice `compacted`): [`ROTATE_BYTES`] but in tests.
    rotate_bytes: u64,
}

impl std::fmt::Debug for LiveLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveLog")
            .field("path", &self.path)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl LiveLog {
    /// Opens (creates) the log of the index at `dir`, cut back to its last whole frame.
    pub fn open(dir: &Path) -> Result<LiveLog, LiveLogError> {
        let path = dir.join(LIVE_LOG);
        let (_, valid) = read_frames(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(err(&path))?;
        file.set_len(valid).map_err(err(&path))?;
        let mut log = LiveLog {
            path,
            file,
            buffer: Vec::new(),
            bytes: valid,
            unsynced: false,
            compacted: 0,
            rotate_bytes: ROTATE_BYTES,
        };
        log.seek_end()?;
        Ok(log)
    }

    fn seek_end(&mut self) -> Result<(), LiveLogError> {
        use std::io::Seek;
        self.file
            .seek(std::io::SeekFrom::Start(self.bytes))
            .map_err(err(&self.path))?;
        Ok(())
    }

    /// Queues a frame (written by [`LiveLog::flush`]).
    pub fn append(&mut self, frame: FrameRef<'_>) {
        encode(frame, &mut self.buffer);
    }

    /// Writes the queued frames to the file (not synced: a process crash keeps them).
    pub fn flush(&mut self) -> Result<(), LiveLogError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        crate::util::panic::failpoint("live_log::write", "");
        self.file.write_all(&self.buffer).map_err(err(&self.path))?;
        self.bytes += self.buffer.len() as u64;
        self.buffer.clear();
        self.unsynced = true;
        Ok(())
    }

    /// Writes and syncs everything queued (before a Tantivy commit).
    pub fn sync(&mut self) -> Result<(), LiveLogError> {
        self.flush()?;
        if self.unsynced {
            self.file.sync_data().map_err(err(&self.path))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// The file's size.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the log is due for compaction.
    pub fn wants_rotation(&self) -> bool {
        self.bytes > self.rotate_bytes.max(2 * self.compacted)
    }

    /// Compacts whenever the log doubled since the last compaction (tests of compaction).
    #[cfg(test)]
    pub fn compact_often(mut self) -> LiveLog {
        self.rotate_bytes = 0;
        self
    }

    /// Replaces the log by `frames` (the overlay's entries now), atomically: temporary
    /// file, sync, rename, directory sync.
    pub fn rotate<'a>(
        &mut self,
        frames: impl Iterator<Item = FrameRef<'a>>,
    ) -> Result<(), LiveLogError> {
        self.flush()?;
        let tmp = self.path.with_extension("log.tmp");
        let mut out = Vec::new();
        for frame in frames {
            encode(frame, &mut out);
        }
        let mut f = File::create(&tmp).map_err(err(&tmp))?;
        f.write_all(&out).map_err(err(&tmp))?;
        f.sync_all().map_err(err(&tmp))?;
        fs::rename(&tmp, &self.path).map_err(err(&self.path))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(err(dir))?;
        }
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(err(&self.path))?;
        self.bytes = out.len() as u64;
        self.compacted = self.bytes;
        self.unsynced = false;
        self.seek_end()?;
        tracing::info!(path = %self.path.display(), bytes = self.bytes, "live log compacted");
        Ok(())
    }
}

/// What [`restore`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Products with a slot in the index.
    pub slots: usize,
    /// Products with live records replayed from the log.
    pub live: usize,
    /// Store quantity records replayed from the log.
    pub stock: usize,
    /// Frames read.
    pub frames: usize,
}

/// Fills the live values of `live` (opened on the index at `dir`): every product's slot
/// from the index, then the log's records over the stored states (see the module notes).
/// Runs before the index is served.
pub fn restore(live: &LiveIndex, dir: &Path) -> Result<Restored, LiveLogError> {
    let searcher = live.reader.searcher();
    let mut slots = crate::util::lock(&live.values.slots);
    let index_err = |e: tantivy::TantivyError| err(dir)(std::io::Error::other(e));
    for segment in searcher.segment_readers() {
        let Ok(column) = segment.fast_fields().u64(schemas::index::names::SLOT) else {
            continue;
        };
        let inverted = segment
            .inverted_index(live.fields.product_id)
            .map_err(index_err)?;
        let mut terms = inverted.terms().stream().map_err(|e| err(dir)(e))?;
        while terms.advance() {
            let Ok(product_id) = std::str::from_utf8(terms.key()) else {
                continue;
            };
            let info = terms.value();
            let mut postings = inverted
                .read_postings_from_terminfo(info, tantivy::schema::IndexRecordOption::Basic)
                .map_err(|e| err(dir)(e))?;
            let mut doc = tantivy::DocSet::doc(&postings);
            while doc != tantivy::TERMINATED {
                if !segment.is_deleted(doc) {
                    if let Some(slot) = column.first(doc).and_then(|s| u32::try_from(s).ok()) {
                        slots.insert(product_id.to_owned(), slot);
                    }
                }
                doc = tantivy::DocSet::advance(&mut postings);
            }
        }
    }
    let (frames, _) = read_frames(&dir.join(LIVE_LOG))?;
    let mut entries: HashMap<String, Option<Vec<OfferValues>>> = HashMap::new();
    let mut stocked: HashMap<&str, u32> = HashMap::new();
    let stock = &live.values.stores;
    for frame in &frames {
        match frame {
            LiveFrame::Offers { product_id, offers } => {
                entries.insert(product_id.clone(), Some(offers.clone()));
            }
            LiveFrame::Forget { product_id } => {
                entries.insert(product_id.clone(), None);
            }
            LiveFrame::Stock {
                product_id,
                offer_id,
                store_id,
                record,
            } => {
                // Frames are written in the order records were applied: the last one wins.
                let slot = slots.get_or_assign(product_id);
                let key = (
                    slot,
                    stock.intern_store(store_id),
                    stock.intern_offer(offer_id),
                );
                stock.set(key, record.clone());
                stocked.insert(product_id, slot);
            }
        }
    }
    let mut restored = Restored {
        slots: slots.len(),
        live: 0,
        stock: stock.len(),
        frames: frames.len(),
    };
    for (product_id, offers) in entries {
        let Some(offers) = offers else { continue };
        let slot = slots.get_or_assign(&product_id);
        let stored = match live.find_product(&searcher, &product_id) {
            Ok(Some(addr)) => live.stored_state(&searcher, addr).ok(),
            _ => None,
        };
        let mut state = stored.unwrap_or_else(|| ProductState::new(product_id.clone()));
        Overlay::apply(&mut state, &offers);
        live.values.columns.set(slot, ProductValues::of(&state));
        if stocked.remove(product_id.as_str()).is_some() {
            stock.refresh(slot, &state);
        }
        live.values
            .overlay
            .set(slot, OverlayEntry { product_id, offers });
        restored.live += 1;
    }
    // The availability of stocked products without live price records: from their stored
    // states.
    for (product_id, slot) in stocked {
        let stored = match live.find_product(&searcher, product_id) {
            Ok(Some(addr)) => live.stored_state(&searcher, addr).ok(),
            _ => None,
        };
        let state = stored.unwrap_or_else(|| ProductState::new(product_id));
        stock.refresh(slot, &state);
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use schemas::state::{PriceBody, Versioned};

    use super::*;

    fn offers(price: u64) -> LiveFrame {
        LiveFrame::Offers {
            product_id: "p1".into(),
            offers: vec![OfferValues {
                offer_id: "o1".into(),
                price: Some(Versioned {
                    version: price,
                    ts: 1,
                    value: PriceBody {
                        price_cents: price,
                        currency: "USD".into(),
                        list_price_cents: None,
                    },
                }),
                inventory: None,
            }],
        }
    }

    #[test]
    fn a_borrowed_frame_encodes_exactly_as_the_owned_one() {
        let frames = [
            offers(7),
            LiveFrame::Forget {
                product_id: "p9".into(),
            },
        ];
        for frame in &frames {
            let owned = postcard::to_allocvec(frame).unwrap();
            assert_eq!(postcard::to_allocvec(&frame.borrowed()).unwrap(), owned);
            assert_eq!(&postcard::from_bytes::<LiveFrame>(&owned).unwrap(), frame);
        }
    }

    /// The writer encodes a product's live records straight from its state
    /// (`OfferList::State`): the bytes must read back as the list of its records.
    #[test]
    fn a_frame_from_a_state_encodes_exactly_as_the_list_of_its_records() {
        let mut state = ProductState::new("p1");
        for (offer, price, quantity) in [
            ("o1", Some(1999), Some(3)),
            ("o2", None, Some(0)),
            ("o3", Some(500), None),
            ("o4", None, None),
        ] {
            let slot = state.offers.entry(offer.to_owned()).or_default();
            slot.price = price.map(|p| Versioned {
                version: 2,
                ts: 5,
                value: PriceBody {
                    price_cents: p,
                    currency: "EUR".into(),
                    list_price_cents: Some(p + 1),
                },
            });
            slot.inventory = quantity.map(|q| Versioned {
                version: 1,
                ts: 4,
                value: q,
            });
        }
        let owned = LiveFrame::Offers {
            product_id: "p1".into(),
            offers: OfferValues::of(&state),
        };
        assert_eq!(
            owned_offers(&owned),
            3,
            "the offer without live records is left out"
        );
        let mut from_state = Vec::new();
        encode(
            FrameRef::Offers {
                product_id: "p1",
                offers: OfferList::State(&state),
            },
            &mut from_state,
        );
        let mut from_list = Vec::new();
        encode(owned.borrowed(), &mut from_list);
        assert_eq!(from_state, from_list);
        assert_eq!(
            postcard::from_bytes::<LiveFrame>(&from_state[8..]).unwrap(),
            owned
        );
    }

    fn owned_offers(frame: &LiveFrame) -> usize {
        match frame {
            LiveFrame::Offers { offers, .. } => offers.len(),
            _ => 0,
        }
    }

    #[test]
    fn frames_come_back_in_order_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LiveLog::open(dir.path()).unwrap();
        log.append(offers(1).borrowed());
        log.append(FrameRef::Forget { product_id: "p1" });
        log.flush().unwrap();
        log.append(offers(2).borrowed());
        log.sync().unwrap();
        let whole = log.bytes();
        drop(log);
        let path = dir.path().join(LIVE_LOG);
        let (frames, valid) = read_frames(&path).unwrap();
        assert_eq!(valid, whole);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[2], offers(2));

        // A crash in the middle of a write: half a frame at the end.
        let mut torn = Vec::new();
        encode(offers(3).borrowed(), &mut torn);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(f);
        assert_eq!(read_frames(&path).unwrap().0.len(), 3);
        let mut log = LiveLog::open(dir.path()).unwrap();
        assert_eq!(log.bytes(), whole, "cut back to the last whole frame");
        log.append(offers(4).borrowed());
        log.flush().unwrap();
        let (frames, _) = read_frames(&path).unwrap();
        assert_eq!(frames.len(), 4, "appends continue after the whole frames");
        assert_eq!(frames[3], offers(4));

        // A flipped byte inside a frame ends the replay there.
        let mut bytes = fs::read(&path).unwrap();
        bytes[10] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read_frames(&path).unwrap().0.len(), 0);
    }

    #[test]
    fn rotation_keeps_exactly_the_given_frames() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LiveLog::open(dir.path()).unwrap();
        for i in 0..100 {
            log.append(offers(i).borrowed());
        }
        log.sync().unwrap();
        let before = log.bytes();
        log.rotate([offers(99)].iter().map(LiveFrame::borrowed))
            .unwrap();
        assert!(log.bytes() < before);
        log.append(offers(100).borrowed());
        log.sync().unwrap();
        let (frames, _) = read_frames(&dir.path().join(LIVE_LOG)).unwrap();
        assert_eq!(frames, vec![offers(99), offers(100)]);
        assert!(!dir.path().join("live.log.tmp").exists());
    }

    #[test]
    fn a_missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_frames(&dir.path().join(LIVE_LOG)).unwrap(),
            (Vec::new(), 0)
        );
    }
}
