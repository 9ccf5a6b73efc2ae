//! A deterministic generator of realistic catalog events: the demo's catalog and update
//! stream, the benchmarks' load, and `indexer generate`.
//!
//! For a seed and a product count, [`Catalog::events`] yields every product with 1 to 5
//! sellers' offers, their prices and inventory; [`ChangeStream`] then yields an endless mix of
//! changes (by default 10% product, 10% offer, 40% price, 40% inventory events, with a few
//! deletes and re-creations). Versions come from one increasing sequence, so every event is
//! newer than the previous one of the same record. Optionally products come from a CSV of
//! real listings (`id,title,category,brand,modelno,price,proddescrlong`, as in
//! `../shared/data/walmart_products.csv`).

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::{
    AttributeValue, Attributes, Condition, Deleted, Event, InventoryEvent, OfferDelete, OfferEvent,
    OfferUpsert, PriceEvent, ProductDelete, ProductEvent, ProductUpsert,
};

/// Categories: path, brands, product nouns, and a price range in dollars.
struct CategorySpec {
    path: &'static [&'static str],
    brands: &'static [&'static str],
    nouns: &'static [&'static str],
    price: (u64, u64),
}

const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        path: &["Electronics", "TVs"],
        brands: &["Samsung", "LG", "Sony", "TCL", "Hisense", "Vizio"],
        nouns: &["4K Smart TV", "QLED TV", "OLED TV", "LED TV"],
        price: (149, 2999),
    },
    CategorySpec {
        path: &["Electronics", "Laptops"],
        brands: &["Apple", "Dell", "HP", "Lenovo", "Asus", "Acer"],
        nouns: &["Laptop", "Notebook", "Chromebook", "Ultrabook"],
        price: (199, 3499),
    },
    CategorySpec {
        path: &["Electronics", "Headphones"],
        brands: &["Sony", "Bose", "JBL", "Sennheiser", "Beats", "Anker"],
        nouns: &[
            "Wireless Headphones",
            "Earbuds",
            "Noise Cancelling Headphones",
            "Gaming Headset",
        ],
        price: (19, 549),
    },
    CategorySpec {
        path: &["Electronics", "Cameras"],
        brands: &["Canon", "Nikon", "Sony", "Fujifilm", "GoPro", "Panasonic"],
        nouns: &[
            "Mirrorless Camera",
            "DSLR Camera",
            "Action Camera",
            "Compact Camera",
        ],
        price: (99, 2499),
    },
    CategorySpec {
        path: &["Home", "Kitchen", "Cookware"],
        brands: &["T-fal", "Lodge", "Cuisinart", "Calphalon", "All-Clad"],
        nouns: &[
            "Nonstick Frying Pan",
            "Cast Iron Skillet",
            "Stock Pot",
            "Saucepan",
            "Dutch Oven",
        ],
        price: (12, 399),
    },
    CategorySpec {
        path: &["Home", "Kitchen", "Appliances"],
        brands: &[
            "KitchenAid",
            "Ninja",
            "Instant Pot",
            "Breville",
            "Hamilton Beach",
        ],
        nouns: &[
            "Stand Mixer",
            "Blender",
            "Pressure Cooker",
            "Air Fryer",
            "Espresso Machine",
            "Toaster",
        ],
        price: (24, 799),
    },
    CategorySpec {
        path: &["Home", "Furniture"],
        brands: &["Ashley", "IKEA", "Sauder", "Zinus", "Walker Edison"],
        nouns: &[
            "Sofa",
            "Office Chair",
            "Bookshelf",
            "Coffee Table",
            "Bed Frame",
        ],
        price: (49, 1499),
    },
    CategorySpec {
        path: &["Tools", "Power Tools"],
        brands: &[
            "DeWalt",
            "Makita",
            "Milwaukee",
            "Bosch",
            "Ryobi",
            "Black+Decker",
        ],
        nouns: &[
            "Cordless Drill",
            "Impact Driver",
            "Circular Saw",
            "Orbital Sander",
            "Rotary Hammer",
        ],
        price: (29, 499),
    },
    CategorySpec {
        path: &["Tools", "Hand Tools"],
        brands: &["Stanley", "Craftsman", "Klein Tools", "Husky"],
        nouns: &[
            "Hammer",
            "Screwdriver Set",
            "Socket Set",
            "Tape Measure",
            "Wrench Set",
        ],
        price: (6, 199),
    },
    CategorySpec {
        path: &["Sports", "Fitness"],
        brands: &["Bowflex", "NordicTrack", "Fitbit", "Garmin", "Peloton"],
        nouns: &[
            "Adjustable Dumbbells",
            "Treadmill",
            "Fitness Tracker",
            "Yoga Mat",
            "Exercise Bike",
        ],
        price: (15, 1999),
    },
    CategorySpec {
        path: &["Sports", "Outdoor"],
        brands: &["Coleman", "The North Face", "Yeti", "Osprey", "Columbia"],
        nouns: &[
            "Camping Tent",
            "Backpack",
            "Cooler",
            "Sleeping Bag",
            "Rain Jacket",
        ],
        price: (19, 599),
    },
    CategorySpec {
        path: &["Toys", "Building Sets"],
        brands: &["LEGO", "Mega Bloks", "K'NEX", "Magna-Tiles"],
        nouns: &["Building Set", "Construction Kit", "Starter Set"],
        price: (9, 499),
    },
    CategorySpec {
        path: &["Beauty", "Hair Care"],
        brands: &["Dyson", "Revlon", "Conair", "Remington", "Panasonic"],
        nouns: &[
            "Hair Dryer",
            "Curling Iron",
            "Hair Straightener",
            "Electric Shaver",
        ],
        price: (14, 599),
    },
    CategorySpec {
        path: &["Grocery", "Coffee"],
        brands: &["Starbucks", "Folgers", "Lavazza", "Peet's", "Dunkin'"],
        nouns: &[
            "Ground Coffee",
            "Whole Bean Coffee",
            "Coffee Pods",
            "Cold Brew",
        ],
        price: (5, 49),
    },
];

const ADJECTIVES: &[&str] = &[
    "Pro",
    "Ultra",
    "Compact",
    "Premium",
    "Classic",
    "Essential",
    "Deluxe",
    "Slim",
    "Heavy Duty",
    "Portable",
    "Smart",
    "Wireless",
    "Advanced",
    "Eco",
    "Max",
];
const COLORS: &[&str] = &[
    "Black",
    "White",
    "Silver",
    "Gray",
    "Blue",
    "Red",
    "Green",
    "Navy",
    "Rose Gold",
    "Stainless Steel",
];
const MATERIALS: &[&str] = &[
    "Aluminum", "Plastic", "Steel", "Wood", "Cotton", "Glass", "Ceramic",
];
const SELLERS: &[(&str, &str)] = &[
    ("acme", "ACME Retail"),
    ("bestdeals", "Best Deals Inc."),
    ("megamart", "MegaMart"),
    ("quickship", "QuickShip Direct"),
    ("valueplus", "Value Plus"),
    ("primegoods", "Prime Goods Co."),
    ("urbanoutlet", "Urban Outlet"),
    ("techhub", "TechHub Store"),
    ("homeessentials", "Home Essentials"),
    ("bargainbin", "Bargain Bin"),
];

/// Where product content comes from.
#[derive(Debug, Clone)]
enum Source {
    Synthetic,
    /// Rows of a CSV of real listings.
    Csv(Vec<CsvProduct>),
}

#[derive(Debug, Clone)]
struct CsvProduct {
    id: String,
    title: String,
    category: String,
    brand: String,
    modelno: String,
    price_cents: Option<u64>,
    description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot read catalog CSV {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog CSV {path}: {message}")]
    Csv { path: String, message: String },
}

/// A deterministic catalog of `products` products.
#[derive(Debug, Clone)]
pub struct Catalog {
    seed: u64,
    products: usize,
    source: Source,
    max_offers: usize,
}

/// The event timestamp to use; the benchmarks use the wall clock so that freshness is real.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Catalog {
    pub fn synthetic(seed: u64, products: usize) -> Catalog {
        Catalog {
            seed,
            products,
            max_offers: 5,
            source: Source::Synthetic,
        }
    }

    /// Products from a CSV of real listings (the first `products` rows, or all of them when
    /// `products` is larger).
    pub fn from_csv(seed: u64, products: usize, path: &Path) -> Result<Catalog, GenerateError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| GenerateError::Read {
            path: shown.clone(),
            source,
        })?;
        let rows = parse_csv(&text);
        let mut rows = rows.into_iter();
        let header = rows.next().ok_or_else(|| GenerateError::Csv {
            path: shown.clone(),
            message: "is empty".to_owned(),
        })?;
        let col = |name: &str| -> Result<usize, GenerateError> {
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| GenerateError::Csv {
                    path: shown.clone(),
                    message: format!("has no `{name}` column (need id, title, category, brand, modelno, price, proddescrlong)"),
                })
        };
        let (id, title, category, brand, modelno, price, desc) = (
            col("id")?,
            col("title")?,
            col("category")?,
            col("brand")?,
            col("modelno")?,
            col("price")?,
            col("proddescrlong")?,
        );
        let get = |row: &Vec<String>, i: usize| row.get(i).cloned().unwrap_or_default();
        let list: Vec<CsvProduct> = rows
            .filter(|r| !get(r, id).trim().is_empty() && !get(r, title).trim().is_empty())
            .take(products)
            .map(|r| CsvProduct {
                id: format!("wm-{}", get(&r, id).trim()),
                title: get(&r, title),
                category: get(&r, category),
                brand: get(&r, brand),
                modelno: get(&r, modelno),
                price_cents: get(&r, price)
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite() && *p >= 0.0)
                    .map(|p| (p * 100.0).round() as u64),
                description: get(&r, desc),
            })
            .collect();
        if list.is_empty() {
            return Err(GenerateError::Csv {
                path: shown,
                message: "has no product rows".to_owned(),
            });
        }
        Ok(Catalog {
            max_offers: 5,
            seed,
            products: list.len(),
            source: Source::Csv(list),
        })
    }

    pub fn len(&self) -> usize {
        self.products
    }

    pub fn is_empty(&self) -> bool {
        self.products == 0
    }

    pub fn product_id(&self, i: usize) -> String {
        match &self.source {
            Source::Synthetic => format!("sku-{i:07}"),
            Source::Csv(rows) => rows[i % rows.len()].id.clone(),
        }
    }

    fn rng_for(&self, i: usize, salt: u64) -> StdRng {
        StdRng::seed_from_u64(
            self.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add((i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9))
                .wrapping_add(salt),
        )
    }

    /// How many events [`Catalog::events`] yields.
    pub fn event_count(&self) -> u64 {
        (0..self.products)
            .map(|i| 1 + 3 * self.offer_count(i) as u64)
            .sum()
    }

    /// How many offers product `i` starts with (1 to `max_offers`).
    pub fn offer_count(&self, i: usize) -> usize {
        self.rng_for(i, 1).random_range(1..=self.max_offers)
    }

    /// At most this many offers per product (1 to 5; default 5).
    pub fn with_max_offers(mut self, max_offers: usize) -> Catalog {
        self.max_offers = max_offers.clamp(1, 5);
        self
    }

    fn category(&self, i: usize) -> &'static CategorySpec {
        &CATEGORIES[self.rng_for(i, 2).random_range(0..CATEGORIES.len())]
    }

    /// The product event of product `i` at `version`.
    pub fn product(&self, i: usize, version: u64, ts: u64) -> ProductUpsert {
        let product_id = self.product_id(i);
        let mut rng = self.rng_for(i, 3);
        match &self.source {
            Source::Synthetic => {
                let spec = self.category(i);
                let brand = spec.brands[rng.random_range(0..spec.brands.len())];
                let noun = spec.nouns[rng.random_range(0..spec.nouns.len())];
                let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
                let color = COLORS[rng.random_range(0..COLORS.len())];
                let material = MATERIALS[rng.random_range(0..MATERIALS.len())];
                let model = format!(
                    "{}{}-{}",
                    (b'A' + rng.random_range(0..26u8)) as char,
                    (b'A' + rng.random_range(0..26u8)) as char,
                    rng.random_range(100..9999)
                );
                let mut attributes = Attributes::new();
                attributes.insert("color".into(), AttributeValue::String(color.into()));
                attributes.insert("model".into(), AttributeValue::String(model.clone()));
                attributes.insert("material".into(), AttributeValue::String(material.into()));
                attributes.insert(
                    "weight_lb".into(),
                    AttributeValue::Number(
                        serde_json::Number::from_f64(f64::from(rng.random_range(1..400u32)) / 10.0)
                            .unwrap_or_else(|| 1.into()),
                    ),
                );
                if rng.random_ratio(1, 2) {
                    attributes.insert(
                        "warranty_years".into(),
                        AttributeValue::Number(rng.random_range(1..=5u64).into()),
                    );
                }
                if rng.random_ratio(1, 3) {
                    attributes.insert("energy_star".into(), AttributeValue::Bool(rng.random()));
                }
                ProductUpsert {
                    product_id,
                    version,
                    ts,
                    title: format!("{brand} {adjective} {noun} {model} - {color}"),
                    description: format!(
                        "The {brand} {adjective} {noun} in {color}, built from {material}. Model {model}. {}",
                        ["Free shipping on orders over $35.", "Backed by the manufacturer's warranty.", "A customer favorite.", "Easy to set up and use."][rng.random_range(0..4)]
                    ),
                    brand: brand.to_owned(),
                    category: spec.path.iter().map(|s| (*s).to_owned()).collect(),
                    attributes,
                }
            }
            Source::Csv(rows) => {
                let row = &rows[i % rows.len()];
                let mut attributes = Attributes::new();
                if !row.modelno.trim().is_empty() {
                    attributes.insert(
                        "modelno".into(),
                        AttributeValue::String(row.modelno.trim().into()),
                    );
                }
                let category: Vec<String> = row
                    .category
                    .split(['>', '|', '/'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                ProductUpsert {
                    product_id,
                    version,
                    ts,
                    title: row.title.trim().to_owned(),
                    description: row.description.trim().to_owned(),
                    brand: row.brand.trim().to_owned(),
                    category,
                    attributes,
                }
            }
        }
    }

    fn base_price_cents(&self, i: usize) -> u64 {
        match &self.source {
            Source::Csv(rows) => rows[i % rows.len()]
                .price_cents
                .unwrap_or_else(|| self.rng_for(i, 4).random_range(500..20_000)),
            Source::Synthetic => {
                let (lo, hi) = self.category(i).price;
                self.rng_for(i, 4).random_range(lo..=hi) * 100 - 1
            }
        }
    }

    pub fn offer_id(&self, i: usize, slot: usize) -> String {
        format!("{}-o{slot}", self.product_id(i))
    }

    fn seller(&self, i: usize, slot: usize) -> (&'static str, &'static str) {
        let start = self.rng_for(i, 5).random_range(0..SELLERS.len());
        SELLERS[(start + slot) % SELLERS.len()]
    }

    pub fn offer(
        &self,
        i: usize,
        slot: usize,
        version: u64,
        ts: u64,
        rng: &mut StdRng,
    ) -> OfferUpsert {
        let (seller_id, seller_name) = self.seller(i, slot);
        OfferUpsert {
            offer_id: self.offer_id(i, slot),
            product_id: self.product_id(i),
            version,
            ts,
            seller_id: seller_id.to_owned(),
            seller_name: seller_name.to_owned(),
            condition: match rng.random_range(0..10) {
                0 => Condition::Used,
                1 => Condition::Refurbished,
                _ => Condition::New,
            },
        }
    }

    pub fn price(
        &self,
        i: usize,
        slot: usize,
        version: u64,
        ts: u64,
        rng: &mut StdRng,
    ) -> PriceEvent {
        let base = self.base_price_cents(i);
        // Sellers price within -15%..+15% of the base.
        let factor = rng.random_range(85..=115u64);
        let price_cents = base * factor / 100;
        PriceEvent {
            offer_id: self.offer_id(i, slot),
            product_id: self.product_id(i),
            version,
            ts,
            price_cents,
            currency: "USD".to_owned(),
            list_price_cents: rng.random_ratio(1, 3).then_some(base + base / 5),
        }
    }

    pub fn inventory(
        &self,
        i: usize,
        slot: usize,
        version: u64,
        ts: u64,
        rng: &mut StdRng,
    ) -> InventoryEvent {
        InventoryEvent {
            offer_id: self.offer_id(i, slot),
            product_id: self.product_id(i),
            version,
            ts,
            quantity: if rng.random_ratio(1, 8) {
                0
            } else {
                rng.random_range(1..200)
            },
        }
    }

    /// Every event of the initial catalog, product by product, with versions from
    /// `versions` and timestamps from `ts`.
    pub fn events<'a>(
        &'a self,
        versions: &'a mut Versions,
        ts: impl Fn() -> u64 + 'a,
    ) -> impl Iterator<Item = Event> + 'a {
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x5EED);
        (0..self.products).flat_map(move |i| {
            let mut out = Vec::with_capacity(1 + 3 * 5);
            out.push(Event::Product(ProductEvent::Upsert(self.product(
                i,
                versions.next(),
                ts(),
            ))));
            for slot in 0..self.offer_count(i) {
                out.push(Event::Offer(OfferEvent::Upsert(self.offer(
                    i,
                    slot,
                    versions.next(),
                    ts(),
                    &mut rng,
                ))));
                out.push(Event::Price(self.price(
                    i,
                    slot,
                    versions.next(),
                    ts(),
                    &mut rng,
                )));
                out.push(Event::Inventory(self.inventory(
                    i,
                    slot,
                    versions.next(),
                    ts(),
                    &mut rng,
                )));
            }
            out
        })
    }
}

/// One increasing version sequence for all records.
#[derive(Debug, Clone)]
pub struct Versions(u64);

impl Versions {
    /// Starts above `floor` (use the time in ms to stay above earlier runs' versions).
    pub fn starting_after(floor: u64) -> Versions {
        Versions(floor)
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// Shares of each event kind in a change stream, in percent.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub product: u32,
    pub offer: u32,
    pub price: u32,
    pub inventory: u32,
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            product: 10,
            offer: 10,
            price: 40,
            inventory: 40,
        }
    }
}

/// An endless stream of changes to a catalog.
pub struct ChangeStream<'a> {
    catalog: &'a Catalog,
    rng: StdRng,
    mix: Mix,
}

impl<'a> ChangeStream<'a> {
    pub fn new(catalog: &'a Catalog, seed: u64, mix: Mix) -> ChangeStream<'a> {
        ChangeStream {
            catalog,
            rng: StdRng::seed_from_u64(seed ^ 0x0C4A_96E5),
            mix,
        }
    }

    /// The next change, with the given version and timestamp.
    pub fn next_event(&mut self, version: u64, ts: u64) -> Event {
        let c = self.catalog;
        let i = self.rng.random_range(0..c.len().max(1));
        let slots = c.offer_count(i);
        let total = self.mix.product + self.mix.offer + self.mix.price + self.mix.inventory;
        let roll = self.rng.random_range(0..total.max(1));
        let product_id = c.product_id(i);
        if roll < self.mix.product {
            // 2% of product changes are deletes; a later change recreates the product.
            if self.rng.random_ratio(1, 50) {
                return Event::Product(ProductEvent::Delete(ProductDelete {
                    product_id,
                    version,
                    ts,
                    deleted: Deleted,
                }));
            }
            let mut p = c.product(i, version, ts);
            // A content change: the description gets a new note.
            p.description = format!("{} Updated listing #{version}.", p.description);
            return Event::Product(ProductEvent::Upsert(p));
        }
        // Offer events sometimes touch a slot beyond the initial ones: a new seller.
        let slot = self
            .rng
            .random_range(0..slots + usize::from(roll < self.mix.product + self.mix.offer));
        if roll < self.mix.product + self.mix.offer {
            if self.rng.random_ratio(1, 10) {
                return Event::Offer(OfferEvent::Delete(OfferDelete {
                    offer_id: c.offer_id(i, slot),
                    product_id,
                    version,
                    ts,
                    deleted: Deleted,
                }));
            }
            return Event::Offer(OfferEvent::Upsert(c.offer(
                i,
                slot,
                version,
                ts,
                &mut self.rng,
            )));
        }
        if roll < self.mix.product + self.mix.offer + self.mix.price {
            return Event::Price(c.price(i, slot, version, ts, &mut self.rng));
        }
        Event::Inventory(c.inventory(i, slot, version, ts, &mut self.rng))
    }
}

/// One message to publish: the topic (by kind), the key and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: schemas::EventKind,
    pub key: String,
    /// `None` is a null payload (only among invalid messages).
    pub payload: Option<Vec<u8>>,
    /// For a deliberately invalid message, the error code the indexer will report.
    pub invalid: Option<&'static str>,
}

impl Message {
    fn valid(event: &Event) -> Message {
        Message {
            kind: event.kind(),
            key: event.product_id().to_owned(),
            payload: Some(event.to_json().into_bytes()),
            invalid: None,
        }
    }
}

/// Replaces `message` by an invalid one with probability `ratio`: every kind of mistake the
/// dead-letter path handles, chosen by `rng`.
pub fn maybe_invalid(message: Message, ratio: f64, rng: &mut StdRng) -> Message {
    if ratio <= 0.0 || !rng.random_bool(ratio.min(1.0)) {
        return message;
    }
    let original = message.payload.clone().unwrap_or_default();
    let text = String::from_utf8_lossy(&original).into_owned();
    let (payload, code): (Option<Vec<u8>>, &'static str) = match rng.random_range(0..8) {
        0 => (Some(b"{\"product_id\": ".to_vec()), "not_json"),
        1 => {
            let mut bytes = original.clone();
            bytes.insert(1, 0xff);
            (Some(bytes), "not_utf8")
        }
        2 => (None, "null_payload"),
        3 => (
            Some(
                text.replacen("\"version\":", "\"versionx\":", 1)
                    .into_bytes(),
            ),
            "missing_field",
        ),
        4 => (
            Some(
                text.replacen("\"ts\":", "\"ts\":\"yesterday\",\"was\":", 1)
                    .into_bytes(),
            ),
            "wrong_type",
        ),
        5 => (
            Some(
                text.replacen("\"version\":", "\"version\":-", 1)
                    .into_bytes(),
            ),
            "negative_number",
        ),
        6 => (
            Some(b"[\"not\", \"an\", \"object\"]".to_vec()),
            "not_object",
        ),
        _ => (
            Some(
                text.replacen("\"product_id\":\"", "\"product_id\":\"\",\"x\":\"", 1)
                    .into_bytes(),
            ),
            "empty_value",
        ),
    };
    Message {
        payload,
        invalid: Some(code),
        ..message
    }
}

/// The messages of a whole publication: the catalog (unless skipped), then `stream` changes
/// (unbounded when `None`), invalid ones mixed in at `invalid_ratio`. Deterministic for a
/// seed and a start version, except `ts`, which `now` gives.
pub fn messages<'a>(
    catalog: &'a Catalog,
    seed: u64,
    start_version: u64,
    include_catalog: bool,
    stream: Option<Option<u64>>,
    invalid_ratio: f64,
    now: impl Fn() -> u64 + Clone + 'a,
) -> impl Iterator<Item = Message> + 'a {
    let mut versions = Versions::starting_after(start_version);
    let catalog_events: Vec<Event> = if include_catalog {
        catalog.events(&mut versions, now.clone()).collect()
    } else {
        Vec::new()
    };
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1D_BAD);
    let mut changes = ChangeStream::new(catalog, seed, Mix::default());
    let (streaming, limit) = match stream {
        Some(limit) => (true, limit),
        None => (false, None),
    };
    let mut streamed = 0u64;
    let mut rng2 = StdRng::seed_from_u64(seed ^ 0x5_7EA);
    catalog_events
        .into_iter()
        .map(move |e| maybe_invalid(Message::valid(&e), invalid_ratio, &mut rng))
        .chain(std::iter::from_fn(move || {
            if !streaming || limit.is_some_and(|l| streamed >= l) || catalog.is_empty() {
                return None;
            }
            streamed += 1;
            let event = changes.next_event(versions.next(), now());
            Some(maybe_invalid(
                Message::valid(&event),
                invalid_ratio,
                &mut rng2,
            ))
        }))
}

/// A minimal RFC 4180 CSV parser (quoted fields, doubled quotes, newlines in quotes).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_catalog() {
        let a = Catalog::synthetic(42, 50);
        let b = Catalog::synthetic(42, 50);
        let ea: Vec<Event> = a.events(&mut Versions::starting_after(0), || 1).collect();
        let eb: Vec<Event> = b.events(&mut Versions::starting_after(0), || 1).collect();
        assert_eq!(ea, eb);
        let c = Catalog::synthetic(43, 50);
        let ec: Vec<Event> = c.events(&mut Versions::starting_after(0), || 1).collect();
        assert_ne!(ea, ec);
    }

    #[test]
    fn catalog_events_are_valid_and_complete() {
        let cat = Catalog::synthetic(1, 200);
        let events: Vec<Event> = cat.events(&mut Versions::starting_after(0), || 5).collect();
        for e in &events {
            let again = schemas::decode(e.kind(), Some(e.to_json().as_bytes())).unwrap();
            assert_eq!(&again, e);
        }
        let merged: crate::merge::Catalog = events.iter().collect();
        let docs = merged.documents();
        assert_eq!(docs.len(), 200, "every product visible");
        assert!(docs.values().all(|d| (1..=5).contains(&d.offer_count)));
        assert!(docs.values().filter(|d| d.in_stock).count() > 150);
    }

    #[test]
    fn the_change_stream_follows_the_mix_and_increases_versions() {
        let cat = Catalog::synthetic(1, 100);
        let mut stream = ChangeStream::new(&cat, 9, Mix::default());
        let mut counts = [0usize; 4];
        let mut versions = Versions::starting_after(1000);
        for _ in 0..10_000 {
            let e = stream.next_event(versions.next(), 1);
            counts[crate::source::kind_index(e.kind())] += 1;
            assert!(schemas::decode(e.kind(), Some(e.to_json().as_bytes())).is_ok());
        }
        // 10/10/40/40 within a few percent.
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
        assert!((800..1200).contains(&counts[1]), "{counts:?}");
        assert!((3700..4300).contains(&counts[2]), "{counts:?}");
        assert!((3700..4300).contains(&counts[3]), "{counts:?}");
    }

    fn payloads(seed: u64, ratio: f64) -> Vec<Message> {
        let cat = Catalog::synthetic(seed, 300);
        messages(&cat, seed, 1, true, Some(Some(2_000)), ratio, || 7).collect()
    }

    #[test]
    fn publications_are_deterministic_for_a_seed() {
        assert_eq!(payloads(5, 0.1), payloads(5, 0.1));
        assert_ne!(payloads(5, 0.1), payloads(6, 0.1));
        let cat = Catalog::synthetic(5, 300);
        let n = messages(&cat, 5, 1, true, None, 0.0, || 7).count();
        assert_eq!(
            n,
            cat.events(&mut Versions::starting_after(1), || 7).count()
        );
        assert_eq!(n as u64, cat.event_count());
        assert_eq!(
            messages(&cat, 5, 1, false, Some(Some(10)), 0.0, || 7).count(),
            10
        );
    }

    #[test]
    fn invalid_ratio_is_respected_and_each_invalid_message_fails_as_labelled() {
        let all = payloads(9, 0.2);
        let invalid: Vec<&Message> = all.iter().filter(|m| m.invalid.is_some()).collect();
        let share = invalid.len() as f64 / all.len() as f64;
        assert!((0.17..0.23).contains(&share), "{share}");
        let mut codes = std::collections::BTreeSet::new();
        for m in &all {
            let decoded = schemas::decode(m.kind, m.payload.as_deref());
            match m.invalid {
                None => assert!(decoded.is_ok(), "{decoded:?}"),
                Some(code) => {
                    let err = decoded.expect_err("labelled invalid");
                    assert_eq!(err.code(), code, "{err}");
                    codes.insert(code);
                }
            }
        }
        assert_eq!(codes.len(), 8, "every kind of mistake appears: {codes:?}");
        assert!(payloads(9, 0.0).iter().all(|m| m.invalid.is_none()));
    }

    #[test]
    fn csv_rows_become_products() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(
            &path,
            "id,title,category,brand,modelno,price,proddescrlong\n1,\"acme widget, large\",tools,acme,W-1,12.50,\"a \"\"great\"\" widget\nwith two lines\"\n2,,x,y,z,1,\n3,gizmo,home,,G2,,\n",
        )
        .unwrap();
        let cat = Catalog::from_csv(1, 10, &path).unwrap();
        assert_eq!(cat.len(), 2, "the row without a title is skipped");
        let p = cat.product(0, 1, 1);
        assert_eq!(p.product_id, "wm-1");
        assert_eq!(p.title, "acme widget, large");
        assert_eq!(p.description, "a \"great\" widget\nwith two lines");
        assert_eq!(p.category, vec!["tools"]);
        assert_eq!(cat.base_price_cents(0), 1250);
        assert!(Catalog::from_csv(1, 10, Path::new("/no/such.csv")).is_err());
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let err = Catalog::from_csv(1, 10, &path).unwrap_err();
        assert!(err.to_string().contains("no `id` column"), "{err}");
    }

    #[test]
    fn the_shared_walmart_catalog_loads_when_present() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/walmart_products.csv");
        if !path.exists() {
            eprintln!("skipped: {} not found", path.display());
            return;
        }
        let cat = Catalog::from_csv(1, 100_000, &path).unwrap();
        assert!(cat.len() > 2000, "{}", cat.len());
        let p = cat.product(0, 1, 1);
        assert!(!p.title.is_empty());
        assert!(schemas::decode(
            schemas::EventKind::Product,
            Some(Event::Product(ProductEvent::Upsert(p)).to_json().as_bytes())
        )
        .is_ok());
    }
}
