//! The Tantivy index schema, defined once for the indexer (writes) and the query API (reads).
//!
//! One Tantivy document per `product_id` that has any record at all, visible or not:
//!
//! | field | kind | purpose |
//! |---|---|---|
//! | `product_id` | raw term | upsert key (`delete_term` + `add_document`), lookups |
//! | `visible` | bool, indexed | every shopper query excludes `visible:false` |
//! | `state` | bytes, stored | the product's merge state (record versions, tombstones, orphans); documents are rendered from it |
//! | `title`, `brand`, `category`, `description` | full text (`catalog_text` analyzer) | relevance |
//! | `attributes` | full text | attribute values are searchable |
//! | `attr` | JSON, keyword, fast | `attr.NAME=VALUE` filters and `attr.NAME` facets |
//! | `brand_key` | keyword, fast | brand filter and facet |
//! | `category_prefix` | raw, multi-valued, fast | every path prefix (`Electronics`, `Electronics>TVs`): category filter and hierarchical facet |
//! | `canary` | bool, indexed | synthetic freshness canaries, excluded from shopper queries |
//! | `seller_id` | raw, multi-valued, fast | seller filter and facet |
//! | `price_cents`, `in_stock`, `updated_at`, `offer_count` | fast (and indexed) | as of the last re-index: the live values (`values`) are read first |
//! | `slot` | u64, fast | the product's slot in the live values (stable for its life) |
//!
//! The stored part is only the compact binary state: the merged document is rendered from it
//! on read ([`ProductState::render`]), which is cheaper than storing both. Keeping the merge
//! state in the same index as the searchable fields is what makes a commit atomic:
//! documents, merge state and (in the commit payload) Kafka offsets move together, so a crash
//! leaves either the previous commit or the next one, never a mix. Invisible products (deleted,
//! or only known through orphan offers) are stored with `visible: false` and their state only.

use std::collections::BTreeMap;

use tantivy::schema::{
    Field, IndexRecordOption, JsonObjectOptions, NumericOptions, OwnedValue, Schema,
    TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};

use crate::state::{DecodeStateError, ProductState};
use tantivy::schema::Value;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument};

/// Bumped whenever the schema or an analyzer changes in a way that needs a full reindex.
pub const SCHEMA_VERSION: u32 = 5;

/// Analyzer of the full-text fields: words, lower-cased, ASCII-folded, English-stemmed.
pub const TEXT_ANALYZER: &str = "catalog_text";
/// Analyzer of the typo field: words, lower-cased, ASCII-folded, not stemmed.
pub const WORDS_ANALYZER: &str = "catalog_words";
/// Analyzer of exact-match fields (brand, attribute values): whole value, lower-cased, folded.
pub const KEYWORD_ANALYZER: &str = "catalog_keyword";
pub use crate::document::CATEGORY_SEPARATOR;
/// Products whose id starts with this are freshness canaries: indexed like any product, but
/// never shown to shoppers.
pub const CANARY_PREFIX: &str = "__canary__";

/// Field names, as they appear in the index.
pub mod names {
    /// `product_id`: the upsert key.
    pub const PRODUCT_ID: &str = "product_id";
    /// `visible`: false for deleted products and orphans.
    pub const VISIBLE: &str = "visible";
    /// `state`: the stored merge state.
    pub const STATE: &str = "state";
    /// `title`: full text.
    pub const TITLE: &str = "title";
    /// `brand`: full text.
    pub const BRAND: &str = "brand";
    /// `brand_key`: the normalized brand, for its filter and facet.
    pub const BRAND_KEY: &str = "brand_key";
    /// `category`: the category path as full text.
    pub const CATEGORY: &str = "category";
    /// `category_prefix`: every prefix of the category path.
    pub const CATEGORY_PREFIX: &str = "category_prefix";
    /// `canary`: true for freshness canaries.
    pub const CANARY: &str = "canary";
    /// `description`: full text.
    pub const DESCRIPTION: &str = "description";
    /// `attributes`: attribute values as full text.
    pub const ATTRIBUTES: &str = "attributes";
    /// `attr`: attribute values by name, for filters and facets.
    pub const ATTR: &str = "attr";
    /// `seller_id`: the sellers of the shown offers.
    pub const SELLER_ID: &str = "seller_id";
    /// `price_cents`: the lowest in-stock price.
    pub const PRICE_CENTS: &str = "price_cents";
    /// `in_stock`: some shown offer is in stock.
    pub const IN_STOCK: &str = "in_stock";
    /// `updated_at`: the greatest `ts` of the product's records.
    pub const UPDATED_AT: &str = "updated_at";
    /// `offer_count`: the shown offers.
    pub const OFFER_COUNT: &str = "offer_count";
    /// `slot`: the product's slot in the live values.
    pub const SLOT: &str = "slot";
    /// `typo_words`: the words of title, brand, category and attributes as written (not
    /// stemmed), which typo corrections are found in and matched against.
    pub const TYPO_WORDS: &str = "typo_words";
}

/// The index schema opened against an index does not have a field this code needs.
#[derive(Debug, thiserror::Error)]
#[error("index schema has no field `{0}`: it was built by another version, reindex it")]
pub struct MissingField(pub &'static str);

/// Handles of every field of the schema.
#[derive(Debug, Clone)]
pub struct IndexFields {
    /// The schema itself.
    pub schema: Schema,
    /// The `product_id` field (see [`names`]).
    pub product_id: Field,
    /// The `visible` field (see [`names`]).
    pub visible: Field,
    /// The `state` field (see [`names`]).
    pub state: Field,
    /// The `title` field (see [`names`]).
    pub title: Field,
    /// The `brand` field (see [`names`]).
    pub brand: Field,
    /// The `brand_key` field (see [`names`]).
    pub brand_key: Field,
    /// The `category` field (see [`names`]).
    pub category: Field,
    /// The `category_prefix` field (see [`names`]).
    pub category_prefix: Field,
    /// The `canary` field (see [`names`]).
    pub canary: Field,
    /// The `description` field (see [`names`]).
    pub description: Field,
    /// The `attributes` field (see [`names`]).
    pub attributes: Field,
    /// The `attr` field (see [`names`]).
    pub attr: Field,
    /// The `seller_id` field (see [`names`]).
    pub seller_id: Field,
    /// The `price_cents` field (see [`names`]).
    pub price_cents: Field,
    /// The `in_stock` field (see [`names`]).
    pub in_stock: Field,
    /// The `updated_at` field (see [`names`]).
    pub updated_at: Field,
    /// The `offer_count` field (see [`names`]).
    pub offer_count: Field,
    /// The `slot` field (see [`names`]).
    pub slot: Field,
    /// The `typo_words` field.
    pub typo_words: Field,
}

impl Default for IndexFields {
    fn default() -> Self {
        IndexFields::new()
    }
}

impl IndexFields {
    /// Builds the schema of this version of the code.
    pub fn new() -> IndexFields {
        let mut b = Schema::builder();
        let text = |record: IndexRecordOption| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(TEXT_ANALYZER)
                    .set_index_option(record),
            )
        };
        let keyword = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(KEYWORD_ANALYZER)
                    .set_index_option(IndexRecordOption::Basic)
                    .set_fieldnorms(false),
            )
            .set_fast(KEYWORD_ANALYZER);
        let numeric = NumericOptions::default().set_indexed().set_fast();

        b.add_text_field(names::PRODUCT_ID, STRING);
        b.add_bool_field(names::VISIBLE, INDEXED);
        b.add_bytes_field(names::STATE, STORED);
        b.add_text_field(names::TITLE, text(IndexRecordOption::WithFreqsAndPositions));
        b.add_text_field(names::BRAND, text(IndexRecordOption::WithFreqs));
        b.add_text_field(names::BRAND_KEY, keyword.clone());
        b.add_text_field(names::CATEGORY, text(IndexRecordOption::WithFreqs));
        b.add_text_field(names::CATEGORY_PREFIX, STRING | FAST);
        b.add_bool_field(names::CANARY, INDEXED);
        b.add_text_field(names::DESCRIPTION, text(IndexRecordOption::WithFreqs));
        b.add_text_field(names::ATTRIBUTES, text(IndexRecordOption::WithFreqs));
        b.add_json_field(
            names::ATTR,
            JsonObjectOptions::default()
                .set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer(KEYWORD_ANALYZER)
                        .set_index_option(IndexRecordOption::Basic)
                        .set_fieldnorms(false),
                )
                .set_fast(KEYWORD_ANALYZER),
        );
        b.add_text_field(names::SELLER_ID, STRING | FAST);
        b.add_u64_field(names::PRICE_CENTS, numeric.clone());
        b.add_bool_field(names::IN_STOCK, numeric.clone());
        b.add_u64_field(names::UPDATED_AT, numeric.clone());
        b.add_u64_field(names::OFFER_COUNT, numeric);
        b.add_u64_field(names::SLOT, FAST);
        // Typo corrections are edits of the word as typed, so they are looked up among the
        // words as written: a stem is cut where the stemmer decides, and a misspelt word is
        // cut elsewhere ("wireles" stems to "wirel", three edits from "wireless"; as typed
        // it is one). Documents only: typo matches score a constant.
        b.add_text_field(
            names::TYPO_WORDS,
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(WORDS_ANALYZER)
                    .set_index_option(IndexRecordOption::Basic)
                    .set_fieldnorms(false),
            ),
        );
        let schema = b.build();
        // The fields were just added under these names.
        IndexFields::from_schema(&schema).unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// Resolves the fields of an existing index's schema.
    pub fn from_schema(schema: &Schema) -> Result<IndexFields, MissingField> {
        let f = |name: &'static str| schema.get_field(name).map_err(|_| MissingField(name));
        Ok(IndexFields {
            schema: schema.clone(),
            product_id: f(names::PRODUCT_ID)?,
            visible: f(names::VISIBLE)?,
            state: f(names::STATE)?,
            title: f(names::TITLE)?,
            brand: f(names::BRAND)?,
            brand_key: f(names::BRAND_KEY)?,
            category: f(names::CATEGORY)?,
            category_prefix: f(names::CATEGORY_PREFIX)?,
            canary: f(names::CANARY)?,
            description: f(names::DESCRIPTION)?,
            attributes: f(names::ATTRIBUTES)?,
            attr: f(names::ATTR)?,
            seller_id: f(names::SELLER_ID)?,
            price_cents: f(names::PRICE_CENTS)?,
            in_stock: f(names::IN_STOCK)?,
            updated_at: f(names::UPDATED_AT)?,
            offer_count: f(names::OFFER_COUNT)?,
            slot: f(names::SLOT)?,
            typo_words: f(names::TYPO_WORDS)?,
        })
    }

    /// The Tantivy document of one product: its stored merge state (always) and, when the
    /// product is visible, every searchable, filterable and sortable field. Built from the
    /// state directly (no intermediate document: this runs for every changed product of
    /// every commit).
    pub fn document(&self, state: &ProductState) -> TantivyDocument {
        self.document_in(state, None)
    }

    /// [`IndexFields::document`] with the product's live-values slot.
    pub fn document_in(&self, state: &ProductState, slot: Option<u32>) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_text(self.product_id, &state.product_id);
        if let Some(slot) = slot {
            d.add_u64(self.slot, u64::from(slot));
        }
        d.add_bytes(self.state, &state.encode());
        let Some((_, body)) = state.body() else {
            d.add_bool(self.visible, false);
            return d;
        };
        d.add_bool(self.visible, true);
        d.add_bool(self.canary, state.product_id.starts_with(CANARY_PREFIX));
        d.add_text(self.title, &body.title);
        d.add_text(self.typo_words, &body.title);
        d.add_text(self.typo_words, &body.brand);
        d.add_text(self.brand, &body.brand);
        if !body.brand.trim().is_empty() {
            d.add_text(self.brand_key, &body.brand);
        }
        let category = body.category.join(" ");
        d.add_text(self.typo_words, &category);
        d.add_text(self.category, category);
        let mut prefix = String::new();
        for segment in &body.category {
            if !prefix.is_empty() {
                prefix.push_str(CATEGORY_SEPARATOR);
            }
            prefix.push_str(segment);
            d.add_text(self.category_prefix, &prefix);
        }
        d.add_text(self.description, &body.description);
        if !body.attributes.is_empty() {
            let mut text = String::new();
            let mut keywords = BTreeMap::new();
            for (k, v) in &body.attributes {
                let value = v.as_text();
                text.push_str(&value);
                text.push(' ');
                keywords.insert(k.clone(), OwnedValue::Str(value.into_owned()));
            }
            d.add_text(self.typo_words, &text);
            d.add_text(self.attributes, text);
            d.add_object(self.attr, keywords);
        }
        let mut offer_count = 0u64;
        for offer in state.shown_offers() {
            offer_count += 1;
            d.add_text(self.seller_id, &offer.offer.seller_id);
        }
        let cheapest = state.cheapest_in_stock();
        if let Some(price) = cheapest.and_then(|o| o.price) {
            d.add_u64(self.price_cents, price.price_cents);
        }
        d.add_bool(self.in_stock, cheapest.is_some());
        d.add_u64(self.updated_at, state.updated_at());
        d.add_u64(self.offer_count, offer_count);
        d
    }

    /// The merge state stored in a document read back from the index: the one place the
    /// `state` field is decoded (a document without one reads as an empty state, which is
    /// an error too). What to do with an unreadable state is the caller's policy.
    pub fn stored_state(&self, doc: &TantivyDocument) -> Result<ProductState, DecodeStateError> {
        let bytes = doc
            .get_first(self.state)
            .and_then(|v| v.as_bytes())
            .unwrap_or_default();
        ProductState::decode(bytes)
    }
}

/// The full-text analyzer: simple word split, long tokens dropped, lower-cased, ASCII-folded,
/// English (Porter-family) stemming.
pub fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The typo field's analyzer: [`text_analyzer`] without stemming.
pub fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The keyword analyzer: the whole value as one token, lower-cased and ASCII-folded.
pub fn keyword_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(RemoveLongFilter::limit(1024))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Normalizes a value the way [`keyword_analyzer`] indexes it, for building filter terms.
pub fn normalize_keyword(value: &str) -> String {
    let mut analyzer = keyword_analyzer();
    let mut stream = analyzer.token_stream(value);
    let mut out = String::new();
    while stream.advance() {
        out.push_str(&stream.token().text);
    }
    out
}

/// Registers the analyzers on an index; needed every time an index is created or opened.
pub fn register_analyzers(index: &Index) {
    index.tokenizers().register(TEXT_ANALYZER, text_analyzer());
    index
        .tokenizers()
        .register(WORDS_ANALYZER, words_analyzer());
    index
        .tokenizers()
        .register(KEYWORD_ANALYZER, keyword_analyzer());
    index
        .fast_field_tokenizer()
        .register(KEYWORD_ANALYZER, keyword_analyzer());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AttributeValue, Condition};
    use tantivy::collector::Count;
    use tantivy::query::TermQuery;
    use tantivy::schema::Value;
    use tantivy::Term;

    fn sample() -> ProductState {
        use crate::state::{OfferBody, OfferSlot, PriceBody, ProductBody, Versioned};
        let attributes: crate::event::Attributes = [
            ("color".to_owned(), AttributeValue::String("Red".into())),
            ("watts".to_owned(), AttributeValue::Number(1200.into())),
        ]
        .into_iter()
        .collect();
        let mut state = ProductState::new("p1");
        state.product = Some(Versioned {
            version: 1,
            ts: 10,
            value: Some(ProductBody {
                title: "Crème Brûlée Torches".into(),
                description: "Caramelizing sugar".into(),
                brand: "Iwatani".into(),
                category: vec!["Kitchen".into(), "Tools".into()],
                attributes: ProductBody::store_attributes(&attributes),
            }),
        });
        state.offers.insert(
            "o1".into(),
            OfferSlot {
                offer: Some(Versioned {
                    version: 1,
                    ts: 1,
                    value: Some(OfferBody {
                        seller_id: "s1".into(),
                        seller_name: "Seller".into(),
                        condition: Condition::New,
                    }),
                }),
                price: Some(Versioned {
                    version: 1,
                    ts: 1,
                    value: PriceBody {
                        price_cents: 1999,
                        currency: "USD".into(),
                        list_price_cents: None,
                    },
                }),
                inventory: Some(Versioned {
                    version: 1,
                    ts: 1,
                    value: 3,
                }),
            },
        );
        state
    }

    fn index_with(states: &[ProductState]) -> (IndexFields, Index) {
        let fields = IndexFields::new();
        let index = Index::create_in_ram(fields.schema.clone());
        register_analyzers(&index);
        let mut writer: tantivy::IndexWriter =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        for state in states {
            writer.add_document(fields.document(state)).unwrap();
        }
        writer.commit().unwrap();
        (fields, index)
    }

    fn count(index: &Index, term: Term) -> usize {
        let searcher = index.reader().unwrap().searcher();
        searcher
            .search(&TermQuery::new(term, IndexRecordOption::Basic), &Count)
            .unwrap()
    }

    #[test]
    fn analyzers_fold_lowercase_and_stem() {
        let mut a = text_analyzer();
        let mut stream = a.token_stream("Crème Brûlée TORCHES");
        let mut tokens = Vec::new();
        while stream.advance() {
            tokens.push(stream.token().text.clone());
        }
        assert_eq!(tokens, ["creme", "brule", "torch"]);
        assert_eq!(normalize_keyword("Crème BRÛLÉE"), "creme brulee");
    }

    #[test]
    fn visible_and_invisible_documents_are_indexed_with_their_state() {
        let (f, index) = index_with(&[sample(), ProductState::new("p2")]);
        assert_eq!(count(&index, Term::from_field_bool(f.visible, true)), 1);
        assert_eq!(count(&index, Term::from_field_bool(f.visible, false)), 1);
        assert_eq!(count(&index, Term::from_field_text(f.product_id, "p2")), 1);
        assert_eq!(count(&index, Term::from_field_text(f.title, "torch")), 1);
        assert_eq!(
            count(&index, Term::from_field_text(f.brand_key, "iwatani")),
            1
        );
        assert_eq!(count(&index, Term::from_field_text(f.seller_id, "s1")), 1);
        assert_eq!(
            count(&index, Term::from_field_text(f.category_prefix, "Kitchen")),
            1
        );
        assert_eq!(
            count(
                &index,
                Term::from_field_text(f.category_prefix, "Kitchen>Tools")
            ),
            1
        );
        assert_eq!(
            count(&index, Term::from_field_text(f.category_prefix, "Tools")),
            0
        );
        assert_eq!(count(&index, Term::from_field_bool(f.canary, false)), 1);
        let mut attr = Term::from_field_json_path(f.attr, "color", false);
        attr.append_type_and_str("red");
        assert_eq!(count(&index, attr), 1);
        assert_eq!(
            count(&index, Term::from_field_text(f.attributes, "1200")),
            1
        );

        let searcher = index.reader().unwrap().searcher();
        let addr = tantivy::DocAddress::new(0, 0);
        let stored: TantivyDocument = searcher.doc(addr).unwrap();
        let bytes = stored
            .get_first(f.state)
            .and_then(|v| v.as_bytes())
            .unwrap();
        assert_eq!(ProductState::decode(bytes).unwrap(), sample());
        assert_eq!(
            count(&index, Term::from_field_u64(f.price_cents, 1999)),
            1,
            "the lowest in-stock price is indexed"
        );
        assert_eq!(count(&index, Term::from_field_bool(f.in_stock, true)), 1);
    }

    #[test]
    fn from_schema_reports_a_missing_field() {
        let mut b = Schema::builder();
        b.add_text_field(names::PRODUCT_ID, STRING);
        let err = IndexFields::from_schema(&b.build()).unwrap_err();
        assert_eq!(err.0, names::VISIBLE);
    }
}
