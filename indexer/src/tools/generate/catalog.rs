//! The deterministic catalog: every product's content, offers, prices and inventory, as a
//! function of the seed and the product's number.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::{
    AttributeValue, Attributes, Condition, Event, InventoryEvent, OfferEvent, OfferUpsert,
    PriceEvent, ProductEvent, ProductUpsert,
};

use super::csv::{read_products, CsvProduct};
use super::tables::{CategorySpec, ADJECTIVES, CATEGORIES, COLORS, MATERIALS, SELLERS};
use super::GenerateError;

/// Where product content comes from.
#[derive(Debug, Clone)]
enum Source {
    Synthetic,
    /// Rows of a CSV of real listings.
    Csv(Vec<CsvProduct>),
}

/// A deterministic catalog of `products` products.
#[derive(Debug, Clone)]
pub struct GeneratedCatalog {
    seed: u64,
    products: usize,
    source: Source,
    max_offers: usize,
    /// Stores with a quantity per offer (0: online only).
    stores: usize,
}

impl GeneratedCatalog {
    pub fn synthetic(seed: u64, products: usize) -> GeneratedCatalog {
        GeneratedCatalog {
            seed,
            products,
            max_offers: 5,
            stores: 0,
            source: Source::Synthetic,
        }
    }

    /// Products from a CSV of real listings (the first `products` rows, or all of them when
    /// `products` is larger).
    pub fn from_csv(
        seed: u64,
        products: usize,
        path: &Path,
    ) -> Result<GeneratedCatalog, GenerateError> {
        let list = read_products(path, products)?;
        Ok(GeneratedCatalog {
            max_offers: 5,
            stores: 0,
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

    /// How many events [`GeneratedCatalog::events`] yields.
    pub fn event_count(&self) -> u64 {
        (0..self.products)
            .map(|i| 1 + 3 * self.offer_count(i) as u64 + self.stocked_stores(i).len() as u64)
            .sum()
    }

    /// The stores product `i`'s first offer is stocked at in the catalog (about 30%).
    pub fn stocked_stores(&self, i: usize) -> Vec<usize> {
        if self.stores == 0 {
            return Vec::new();
        }
        let mut rng = self.rng_for(i, 7);
        (0..self.stores)
            .filter(|_| rng.random_ratio(3, 10))
            .collect()
    }

    /// How many offers product `i` starts with (1 to `max_offers`).
    pub fn offer_count(&self, i: usize) -> usize {
        self.rng_for(i, 1).random_range(1..=self.max_offers)
    }

    /// Stores with quantities (`store-000`, `store-001`, ...): each product's first offer is
    /// stocked at about 30% of them; 0 (the default) publishes online quantities only.
    pub fn with_stores(mut self, stores: usize) -> GeneratedCatalog {
        self.stores = stores;
        self
    }

    /// Stores with quantities.
    pub fn stores(&self) -> usize {
        self.stores
    }

    /// The id of store `k`.
    pub fn store_id(k: usize) -> String {
        format!("store-{k:03}")
    }

    /// The quantity of an offer at store `k`.
    pub fn store_inventory(
        &self,
        i: usize,
        slot: usize,
        k: usize,
        version: u64,
        ts: u64,
        rng: &mut StdRng,
    ) -> InventoryEvent {
        InventoryEvent {
            store_id: Some(GeneratedCatalog::store_id(k)),
            quantity: if rng.random_ratio(1, 4) {
                0
            } else {
                rng.random_range(1..20)
            },
            ..self.inventory(i, slot, version, ts, rng)
        }
    }

    /// At most this many offers per product (1 to 5; default 5).
    pub fn with_max_offers(mut self, max_offers: usize) -> GeneratedCatalog {
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

    pub(super) fn base_price_cents(&self, i: usize) -> u64 {
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
            store_id: None,
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
            for k in self.stocked_stores(i) {
                out.push(Event::Inventory(self.store_inventory(
                    i,
                    0,
                    k,
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
