//! Per-query cost on an index directory, without HTTP: runs the search benchmark's query
//! shapes (`scripts/bench/search.lua`) one at a time and prints the median and worst
//! `search()` time of each, slowest first. With the filter `hostile`, the costly shapes of
//! issue #14 item 12 instead (unknown 12-letter words up to the 32-word cap, many known words
//! that no product has together).
//!
//! ```sh
//! cargo run --release -p query-api --example query_cost -- DATA_DIR/indexes/NAME [ROUNDS] [FILTER | =QUERY | hostile]
//! ```

use std::time::{Duration, Instant};

use query_api::search;
use query_api::{pairs, SearchParams};
use query_api::{LiveIndex, Relevance};
use schemas::IndexFields;
use tantivy::{Index, ReloadPolicy};

const BRANDS: &[&str] = &[
    "samsung",
    "lg",
    "sony",
    "apple",
    "dell",
    "hp",
    "lenovo",
    "bose",
    "jbl",
    "canon",
    "nikon",
    "lodge",
    "cuisinart",
    "kitchenaid",
    "ninja",
    "dewalt",
    "makita",
    "bosch",
    "ryobi",
    "stanley",
    "coleman",
    "yeti",
    "lego",
    "dyson",
    "starbucks",
];
const NOUNS: &[&str] = &[
    "tv",
    "laptop",
    "headphones",
    "earbuds",
    "camera",
    "frying pan",
    "skillet",
    "stock pot",
    "blender",
    "air fryer",
    "mixer",
    "sofa",
    "office chair",
    "bookshelf",
    "cordless drill",
    "impact driver",
    "circular saw",
    "hammer",
    "socket set",
    "tape measure",
    "treadmill",
    "yoga mat",
    "tent",
    "backpack",
    "cooler",
    "sleeping bag",
    "building set",
    "hair dryer",
    "coffee",
    "espresso machine",
    "oled tv",
    "gaming headset",
    "wireless headphones",
    "cast iron",
];
const ADJECTIVES: &[&str] = &[
    "pro",
    "compact",
    "premium",
    "wireless",
    "portable",
    "smart",
    "deluxe",
    "black",
    "stainless steel",
    "red",
];
/// Twelve-letter words no product has (consonant-vowel pairs: they walk deep into the
/// typo automata of a real term dictionary before failing).
const UNKNOWN: &str =
    "neraduficuja dosakasafecu rakagisefumu hajifuducujo situtimehedu muvitidazohi \
    gosadunipuvu tadivacitiri bopefocemeko rodetolesulo pokedegekavu himagopunezu cororoforaja \
    johanucabugu fibajurelipo favovomagani vezajupebuma lupepezikuje rejuvibalole popidefevene \
    vubopafojoho narorahegagu tevigugabaze sejalemukuni secituzozegu zatebehevufu cizuvacejica \
    zobatizuzelo zuvukulujogo fotidesajife peletefoveke surisepidibi";

/// The hostile shapes, as query strings.
fn hostile() -> Vec<String> {
    let unknown: Vec<&str> = UNKNOWN.split_whitespace().collect();
    let words = |n: usize| unknown[..n].join("+");
    vec![
        format!("q={}", words(8)),
        format!("q={}", words(16)),
        format!("q={}", words(32)),
        format!("q={}&facets=brand,category,price&sort=price_asc", words(32)),
        format!("q=samsung+{}", words(31)),
        format!("q=sony+lego+{}+tv", words(6)),
        "q=samsung+tv+laptop+camera+blender+mixer+sofa+tent".to_owned(),
        "q=samsung+tv+laptop+camera+blender+mixer+sofa+tent+cooler+hammer+treadmill+backpack+skillet+coffee+drill+yoga".to_owned(),
    ]
}

const EXTRAS: &[&str] = &[
    "",
    "&facets=brand,category,price",
    "&facets=brand,price&in_stock=true",
    "&sort=price_asc&facets=brand",
    "&page=2",
    "&max_price=10000&facets=category",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: query_cost INDEX_DIR [ROUNDS] [FILTER | =QUERY]")?;
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    let only = args.next();
    let index = Index::open_in_dir(&path)?;
    schemas::index::register_analyzers(&index);
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    let fields = IndexFields::from_schema(&index.schema())?;
    let live = LiveIndex::new(index, reader, fields, None, 0);
    let mut texts: Vec<String> = Vec::new();
    texts.extend(NOUNS.iter().map(|n| n.to_string()));
    texts.extend(BRANDS.iter().map(|b| b.to_string()));
    for b in ["sony", "lego", "dewalt", "samsung"] {
        texts.extend(NOUNS.iter().map(|n| format!("{b} {n}")));
    }
    for a in ADJECTIVES {
        texts.extend(NOUNS.iter().map(|n| format!("{a} {n}")));
    }
    let mut raws: Vec<String> = Vec::new();
    for text in &texts {
        for extra in EXTRAS {
            raws.push(format!("q={}{extra}", text.replace(' ', "+")));
        }
    }
    // A filter starting with `=` is one exact query string.
    match only.as_deref().map(|o| o.strip_prefix('=').ok_or(o)) {
        Some(Err("hostile")) => raws = hostile(),
        Some(Ok(exact)) => raws = vec![exact.to_owned()],
        Some(Err(part)) => raws.retain(|raw| raw.contains(part)),
        None => {}
    }
    let mut rows = Vec::new();
    {
        for raw in raws {
            let params = SearchParams::parse(&pairs(Some(&raw)))?;
            let mut times: Vec<Duration> = Vec::new();
            let mut info = String::new();
            for _ in 0..rounds {
                let started = Instant::now();
                let response = search(&live, Relevance::default(), &params)?;
                times.push(started.elapsed());
                info = format!(
                    "total {} relaxed {} matched {}",
                    response.total, response.relaxed, response.matched_words
                );
            }
            times.sort();
            rows.push((times[times.len() / 2], times[times.len() - 1], raw, info));
        }
    }
    let mut all: Vec<Duration> = rows.iter().map(|r| r.0).collect();
    all.sort();
    let mean = all.iter().sum::<Duration>() / all.len().max(1) as u32;
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (median, worst, raw, info) in rows.iter().take(40) {
        println!(
            "{:7.2} ms {:7.2} ms  {raw}  ({info})",
            median.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3
        );
    }
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{} queries: mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        all.len(),
        mean.as_secs_f64() * 1e3,
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
    Ok(())
}
