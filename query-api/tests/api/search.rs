//! `/search`, `/suggest` and `/products/{id}`: every parameter, filter, facet and sort, with
//! exact expected hits and counts.

use axum::http::StatusCode;
use serde_json::{json, Value};

use query_api::{Relevance, SearchSettings};

use crate::common::{app, app_of, app_with, facet, get, id_set, ids, ok, P};

fn pairs(v: &[(&str, u64)]) -> Vec<(String, u64)> {
    v.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn browse_returns_every_visible_product_newest_first() {
    let app = app();
    let body = ok(&app, "/search").await;
    assert_eq!(
        body["total"], 11,
        "deleted, orphan and canary products are not visible"
    );
    assert_eq!(body["page"], 1);
    assert_eq!(body["per_page"], 20);
    assert_eq!(
        ids(&body),
        strings(&["p13", "p10", "p09", "p08", "p07", "p06", "p05", "p04", "p03", "p02", "p01"])
    );
    assert!(body["took_ms"].is_u64());
    let first = &body["hits"][1]["product"];
    assert_eq!(first["title"], "Crème Brûlée Torch");
    assert_eq!(first["price_cents"], 2500);
    assert_eq!(first["offers"][0]["seller_id"], "s2");
    assert_eq!(body["hits"][0]["highlights"], json!({}));
}

#[tokio::test]
async fn text_search_matches_all_words_across_fields() {
    let app = app();
    assert_eq!(
        id_set(&ok(&app, "/search?q=samsung").await),
        strings(&["p01", "p02"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=samsung+qled").await),
        strings(&["p01", "p02"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=tvs").await),
        strings(&["p01", "p02", "p03"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=cordless+drill").await),
        strings(&["p09"])
    );
    // Brand and category fields count too.
    assert_eq!(
        id_set(&ok(&app, "/search?q=iwatani").await),
        strings(&["p10"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=cookware").await),
        strings(&["p06", "p07", "p13"])
    );
    let body = ok(&app, "/search?q=samsung+qled").await;
    assert_eq!(
        (body["relaxed"].clone(), body["matched_words"].clone()),
        (json!(false), json!(2))
    );
}

#[tokio::test]
async fn folding_and_stemming() {
    let app = app();
    assert_eq!(
        id_set(&ok(&app, "/search?q=creme+brulee").await),
        strings(&["p10"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=CR%C3%88ME").await),
        strings(&["p10"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=headphone+").await),
        strings(&["p04", "p05"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=skillets+").await),
        strings(&["p06", "p13"])
    );
}

#[tokio::test]
async fn typos_are_tolerated_by_word_length() {
    let app = app();
    // 7 letters: one edit (a transposition counts as one).
    assert_eq!(
        id_set(&ok(&app, "/search?q=samsnug").await),
        strings(&["p01", "p02"])
    );
    // 9 letters: two edits.
    assert_eq!(
        id_set(&ok(&app, "/search?q=hedphones+").await),
        strings(&["p04", "p05"])
    );
    // 4 letters: one edit ("qlet" finds "QLED"), 3 letters none ("lgg" does not find "LG").
    assert_eq!(
        id_set(&ok(&app, "/search?q=qlet+").await),
        strings(&["p01", "p02"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=lgg+").await),
        Vec::<String>::new()
    );
}

/// Regression (issue #16): a misspelt word whose stem is cut elsewhere than the correct
/// word's ("wireles" stems to "wirel", three edits from "wireless") found nothing but as a
/// prefix, so next to another word the search came back relaxed, ranked by the other word.
#[tokio::test]
async fn a_misspelt_word_next_to_another_matches_unrelaxed_and_is_highlighted() {
    let app = app();
    for (q, id, marked) in [
        ("wireles headphones", "p04", "<em>Wireless</em>"),
        ("cordles drill", "p09", "<em>Cordless</em>"),
        ("headphones wireles ", "p04", "<em>Wireless</em>"),
        // A transposition is one edit.
        ("wireless headpohnes", "p04", "<em>Headphones</em>"),
    ] {
        let body = ok(&app, &format!("/search?q={}", q.replace(' ', "+"))).await;
        assert_eq!(ids(&body), strings(&[id]), "{q}");
        assert_eq!(body["relaxed"], false, "{q}");
        let title = body["hits"][0]["highlights"]["title"]
            .as_str()
            .unwrap_or("");
        assert!(title.contains(marked), "{q}: {title}");
    }
}

/// The last word cut short completes inside a multi-word query, unrelaxed.
#[tokio::test]
async fn a_last_word_cut_short_completes_next_to_other_words() {
    let app = app();
    let body = ok(&app, "/search?q=wireless+headph").await;
    assert_eq!(ids(&body), strings(&["p04"]));
    assert_eq!(body["relaxed"], false);
    let title = body["hits"][0]["highlights"]["title"]
        .as_str()
        .unwrap_or("");
    assert!(title.contains("<em>Headphones</em>"), "{title}");
}

#[tokio::test]
async fn exact_matches_rank_above_fuzzy_ones() {
    let app = app();
    // p06 has "Skillet"; p13 has the misspelled "Skillit" (one edit away).
    let body = ok(&app, "/search?q=skillet").await;
    assert_eq!(ids(&body), strings(&["p06", "p13"]));
    assert!(body["hits"][0]["score"].as_f64() > body["hits"][1]["score"].as_f64());
}

#[tokio::test]
async fn words_the_catalog_knows_as_typed_get_no_typo_corrections() {
    let with_threshold = |typo_threshold| {
        app_with(SearchSettings {
            relevance: Relevance {
                typo_threshold,
                ..Relevance::default()
            },
            ..SearchSettings::default()
        })
    };
    // "skillet" is in one product (p06): with a threshold of 1 it is taken as typed, and
    // p13's misspelled "Skillit" no longer matches; with 0 every word gets corrections.
    assert_eq!(
        ids(&ok(&with_threshold(1), "/search?q=skillet").await),
        strings(&["p06"])
    );
    assert_eq!(
        ids(&ok(&with_threshold(0), "/search?q=skillet").await),
        strings(&["p06", "p13"])
    );
    // A word the catalog does not know still gets them.
    assert_eq!(
        id_set(&ok(&with_threshold(1), "/search?q=samsnug").await),
        strings(&["p01", "p02"])
    );
}

#[tokio::test]
async fn the_last_word_matches_as_a_prefix() {
    let app = app();
    assert_eq!(
        id_set(&ok(&app, "/search?q=headph").await),
        strings(&["p04", "p05"])
    );
    assert_eq!(
        id_set(&ok(&app, "/search?q=sony+wirel").await),
        strings(&["p04"])
    );
    // Not when the text ends with a space: the word is complete.
    assert_eq!(ok(&app, "/search?q=headph+").await["total"], 0);
}

#[tokio::test]
async fn no_match_for_all_words_relaxes_to_most_words() {
    let app = app();
    let body = ok(&app, "/search?q=samsung+oled+").await;
    assert_eq!(body["relaxed"], true);
    assert_eq!(body["matched_words"], 1);
    assert_eq!(id_set(&body), strings(&["p01", "p02", "p03"]));
    assert_eq!(ok(&app, "/search?q=zzzz+yyyy+").await["total"], 0);
}

/// The default: while fewer than 100 products have every word, the page goes on with
/// products that have fewer (ranked after them); the response is not `relaxed`, since some
/// products have them all, and says how many do.
#[tokio::test]
async fn fewer_full_matches_than_relax_below_are_followed_by_partial_ones() {
    let app = app_with(SearchSettings::default());
    let body = ok(&app, "/search?q=samsung+tv+").await;
    let mut first = ids(&body)[..2].to_vec();
    first.sort();
    assert_eq!(first, strings(&["p01", "p02"]), "every word first");
    assert_eq!(id_set(&body), strings(&["p01", "p02", "p03"]));
    assert_eq!(body["relaxed"], false);
    assert_eq!(body["total_all_words"], 2);
    assert_eq!(body["total"], 3);
    assert_eq!(body["matched_words"], 1);
    // When none has every word, it is relaxed.
    let body = ok(&app, "/search?q=samsung+oled+").await;
    assert_eq!(body["relaxed"], true);
    assert_eq!(body["total_all_words"], 0);
}

#[tokio::test]
async fn stop_words_are_optional() {
    let app = app();
    let body = ok(&app, "/search?q=skillet+with+").await;
    assert_eq!(ids(&body), strings(&["p06", "p13"]));
    assert_eq!(body["relaxed"], false);
    // A query of stop words only still needs them.
    assert_eq!(ok(&app, "/search?q=with+").await["total"], 0);
}

#[tokio::test]
async fn relaxed_results_rank_products_with_more_words_first() {
    let app = app();
    // No product has all three; Samsung QLED TVs have two, other TVs one.
    let body = ok(&app, "/search?q=samsung+qled+lamp+").await;
    assert_eq!(body["relaxed"], true);
    assert_eq!(body["matched_words"], 2);
    assert_eq!(id_set(&body), strings(&["p01", "p02"]));
    let body = ok(&app, "/search?q=samsung+qled+oled+lamp+").await;
    assert_eq!(body["matched_words"], 2);
    assert_eq!(id_set(&body), strings(&["p01", "p02"]));
}

#[tokio::test]
async fn the_words_as_a_phrase_in_the_title_rank_first() {
    let product = |id, title| P {
        id,
        title,
        brand: "Acme",
        category: &["Toys"],
        attrs: &[],
        offers: &[("s1", Some(100), 1)],
        updated_at: 1,
    };
    let products = [
        // The shortest title: first by the words alone.
        product("apart", "Set for building"),
        product("phrase", "Classic wooden building set blocks"),
        product("other", "Classic wooden blocks"),
    ];
    let settings = |phrase| SearchSettings {
        relevance: Relevance {
            phrase,
            ..Relevance::default()
        },
        ..SearchSettings::default()
    };
    let without = app_of(&products, settings(0.0));
    assert_eq!(
        ids(&ok(&without, "/search?q=building+set+").await),
        strings(&["apart", "phrase"])
    );
    let with = app_of(&products, settings(Relevance::default().phrase));
    let body = ok(&with, "/search?q=building+set+").await;
    assert_eq!(ids(&body), strings(&["phrase", "apart"]));
    // Pages agree with the ranking of one page.
    let first = ok(&with, "/search?q=building+set+&per_page=1").await;
    let second = ok(&with, "/search?q=building+set+&per_page=1&page=2").await;
    assert_eq!(
        [ids(&first), ids(&second)].concat(),
        strings(&["phrase", "apart"])
    );
    assert_eq!(first["hits"][0]["score"], body["hits"][0]["score"]);
    // Sorted orders do not need it, and the words still rank ties.
    let body = ok(&with, "/search?q=building+set+&sort=price_asc").await;
    assert_eq!(body["total"], 2);
}

#[tokio::test]
async fn highlights_mark_the_matched_words() {
    let app = app();
    let body = ok(&app, "/search?q=samsung+qled").await;
    let titles: Vec<&str> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["highlights"]["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"<em>Samsung</em> 55&quot; <em>QLED</em> 4K Smart TV"),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"<em>Samsung</em> 65&quot; Neo <em>QLED</em> TV"),
        "{titles:?}"
    );
}

#[tokio::test]
async fn each_filter() {
    let app = app();
    let cases: &[(&str, &[&str])] = &[
        ("brand=samsung", &["p01", "p02"]),
        ("brand=SAMSUNG&brand=LG", &["p01", "p02", "p03"]),
        ("category=Electronics", &["p01", "p02", "p03", "p04", "p05"]),
        ("category=Electronics%3ETVs", &["p01", "p02", "p03"]),
        (
            "category=Home%3EKitchen",
            &["p06", "p07", "p08", "p10", "p13"],
        ),
        ("category=Home%3EKitchen%3ECookware", &["p06", "p07", "p13"]),
        ("category=Kitchen", &[]),
        (
            "min_price=2500&max_price=34999",
            &["p04", "p05", "p06", "p09", "p10"],
        ),
        ("max_price=2499", &["p07"]),
        ("min_price=100000", &["p02"]),
        (
            "in_stock=true",
            &["p01", "p02", "p04", "p05", "p06", "p07", "p09", "p10"],
        ),
        ("in_stock=false", &["p03", "p08", "p13"]),
        ("seller_id=s4", &["p07", "p09"]),
        (
            "seller_id=s1&seller_id=s3",
            &["p01", "p02", "p03", "p05", "p06", "p07"],
        ),
        ("attr.color=black", &["p01", "p03", "p04"]),
        ("attr.color=Black&attr.size=55", &["p01", "p03"]),
        (
            "attr.color=black&attr.color=white",
            &["p01", "p03", "p04", "p05"],
        ),
        ("attr.material=cast+iron", &["p06"]),
        ("q=tv&brand=lg", &["p03"]),
        ("q=tv&in_stock=true&max_price=60000", &["p01"]),
    ];
    for (query, expected) in cases {
        let body = ok(&app, &format!("/search?{query}")).await;
        assert_eq!(id_set(&body), strings(expected), "{query}");
        assert_eq!(body["total"], expected.len(), "{query}");
    }
}

#[tokio::test]
async fn each_sort() {
    let app = app();
    let body = ok(&app, "/search?sort=price_asc").await;
    let got = ids(&body);
    assert_eq!(
        got[..8],
        strings(&["p07", "p10", "p06", "p09", "p05", "p04", "p01", "p02"])
    );
    let mut unpriced = got[8..].to_vec();
    unpriced.sort();
    assert_eq!(
        unpriced,
        strings(&["p03", "p08", "p13"]),
        "products without a price come last"
    );

    let got = ids(&ok(&app, "/search?sort=price_desc").await);
    assert_eq!(
        got[..8],
        strings(&["p02", "p01", "p04", "p05", "p09", "p06", "p10", "p07"])
    );
    let mut unpriced = got[8..].to_vec();
    unpriced.sort();
    assert_eq!(unpriced, strings(&["p03", "p08", "p13"]));

    assert_eq!(
        ids(&ok(&app, "/search?sort=newest&category=Electronics").await),
        strings(&["p05", "p04", "p03", "p02", "p01"])
    );
    assert_eq!(
        ids(&ok(&app, "/search?q=headphones&sort=price_asc").await),
        strings(&["p05", "p04"])
    );
    assert_eq!(
        ids(&ok(&app, "/search?q=headphones&sort=price_desc").await),
        strings(&["p04", "p05"])
    );
    // Relevance with words: p06 (exact) above p13 (fuzzy), whatever their age.
    assert_eq!(
        ids(&ok(&app, "/search?q=skillet&sort=relevance").await),
        strings(&["p06", "p13"])
    );
}

/// Regression guard: facet counts are exact across segments (a per-segment top list, as
/// Tantivy's terms aggregation keeps, under-counts a value that is rare in one segment and
/// frequent in another), and a seller with two offers on a product counts once.
#[tokio::test]
async fn facet_counts_are_exact_across_segments_and_once_per_product() {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let product =
        |id: String, brand: &'static str, offers: &'static [(&'static str, Option<u64>, u64)]| P {
            id: leak(id),
            title: "Gadget",
            brand,
            category: &["Misc"],
            attrs: &[],
            offers,
            updated_at: 1,
        };
    let one: &'static [(&str, Option<u64>, u64)] = &[("s1", Some(100), 1)];
    // The first segment: 205 brands twice each (more than the 200 that Tantivy keeps per
    // segment for a top 20), and "rare" once; the second: "rare" 5 times, padded with
    // unbranded products to the same size.
    let mut first = Vec::new();
    for b in 0..205 {
        for n in 0..2 {
            first.push(product(
                format!("a{b}-{n}"),
                leak(format!("brand{b:03}")),
                one,
            ));
        }
    }
    first.push(product("a-rare".into(), "rare", one));
    let mut second: Vec<P> = (0..5)
        .map(|n| {
            product(
                format!("b-rare{n}"),
                "rare",
                &[
                    ("s1", Some(100), 1),
                    ("s1", Some(90), 2),
                    ("s2", Some(95), 1),
                ],
            )
        })
        .collect();
    while second.len() < first.len() {
        second.push(product(format!("b-pad{}", second.len()), "", one));
    }
    let products: Vec<P> = first.into_iter().chain(second).collect();
    let app = app_of(&products, SearchSettings::default());
    let body = ok(&app, "/search?facets=brand,seller_id&per_page=1").await;
    assert_eq!(facet(&body, "brand")[0], ("rare".to_owned(), 6));
    assert_eq!(facet(&body, "brand").len(), 20);
    assert_eq!(
        facet(&body, "seller_id"),
        [("s1".to_owned(), 822), ("s2".to_owned(), 5)]
    );
}

#[tokio::test]
async fn facets_count_the_whole_filtered_result_set() {
    let app = app();
    let body = ok(
        &app,
        "/search?per_page=1&facets=brand,category,price,seller_id,attr.color",
    )
    .await;
    assert_eq!(
        body["hits"].as_array().unwrap().len(),
        1,
        "facets are not limited to the page"
    );
    assert_eq!(
        facet(&body, "brand"),
        pairs(&[
            ("samsung", 2),
            ("acme", 1),
            ("bose", 1),
            ("dewalt", 1),
            ("iwatani", 1),
            ("kitchenaid", 1),
            ("lg", 1),
            ("lodge", 1),
            ("sony", 1),
            ("t-fal", 1)
        ])
    );
    assert_eq!(
        facet(&body, "category"),
        pairs(&[
            ("Electronics", 5),
            ("Home", 5),
            ("Home>Kitchen", 5),
            ("Electronics>TVs", 3),
            ("Home>Kitchen>Cookware", 3),
            ("Electronics>Headphones", 2),
            ("Home>Kitchen>Appliances", 1),
            ("Home>Kitchen>Tools", 1),
            ("Tools", 1),
            ("Tools>Power Tools", 1),
        ])
    );
    assert_eq!(
        facet(&body, "price"),
        pairs(&[
            ("0-2500", 1),
            ("2500-5000", 2),
            ("5000-10000", 1),
            ("10000-25000", 0),
            ("25000-50000", 3),
            ("50000-100000", 0),
            ("100000+", 1)
        ])
    );
    assert_eq!(
        body["facets"]["price"][0],
        json!({"value": "0-2500", "count": 1, "from": 0, "to": 2500})
    );
    assert_eq!(
        body["facets"]["price"][6],
        json!({"value": "100000+", "count": 1, "from": 100000, "to": null})
    );
    assert_eq!(
        facet(&body, "seller_id"),
        pairs(&[("s1", 4), ("s2", 3), ("s3", 2), ("s4", 2), ("s5", 1)])
    );
    assert_eq!(
        facet(&body, "attr.color"),
        pairs(&[("black", 3), ("red", 1), ("silver", 1), ("white", 1)])
    );

    // With a filter, the counts follow it.
    let body = ok(&app, "/search?category=Electronics&facets=brand,price").await;
    assert_eq!(
        facet(&body, "brand"),
        pairs(&[("samsung", 2), ("bose", 1), ("lg", 1), ("sony", 1)])
    );
    assert_eq!(facet(&body, "price")[4], ("25000-50000".to_owned(), 3));
    assert!(ok(&app, "/search").await["facets"]
        .as_object()
        .unwrap()
        .is_empty());
}

/// Multi-select facets (issue #16 item 3): a facet ignores its own filter, hits and totals
/// apply them all; `category` shows the selected path's children and siblings.
#[tokio::test]
async fn facet_counts_ignore_their_own_filter_and_apply_the_others() {
    let app = app();
    let all_brands = pairs(&[
        ("samsung", 2),
        ("acme", 1),
        ("bose", 1),
        ("dewalt", 1),
        ("iwatani", 1),
        ("kitchenaid", 1),
        ("lg", 1),
        ("lodge", 1),
        ("sony", 1),
        ("t-fal", 1),
    ]);
    let body = ok(&app, "/search?brand=samsung&facets=brand,category").await;
    assert_eq!(body["total"], 2);
    assert_eq!(facet(&body, "brand"), all_brands, "brand ignores brand=");
    assert_eq!(
        facet(&body, "category"),
        pairs(&[("Electronics", 2), ("Electronics>TVs", 2)]),
        "category applies brand="
    );
    // Ticking a second brand keeps the first's count.
    let body = ok(&app, "/search?brand=samsung&brand=lg&facets=brand").await;
    assert_eq!(body["total"], 3);
    assert_eq!(facet(&body, "brand"), all_brands);

    // Category: siblings of the selected path (itself included) and its children.
    let body = ok(
        &app,
        "/search?category=Electronics%3ETVs&facets=category,brand",
    )
    .await;
    assert_eq!(body["total"], 3);
    assert_eq!(
        facet(&body, "category"),
        pairs(&[("Electronics>TVs", 3), ("Electronics>Headphones", 2)])
    );
    assert_eq!(facet(&body, "brand"), pairs(&[("samsung", 2), ("lg", 1)]));
    let body = ok(&app, "/search?category=Home%3EKitchen&facets=category").await;
    assert_eq!(body["total"], 5);
    assert_eq!(
        facet(&body, "category"),
        pairs(&[
            ("Home>Kitchen", 5),
            ("Home>Kitchen>Cookware", 3),
            ("Home>Kitchen>Appliances", 1),
            ("Home>Kitchen>Tools", 1),
        ])
    );

    // Price ignores min_price/max_price; attr.X ignores attr.X=, and both apply the rest.
    let unfiltered = ok(&app, "/search?facets=price,attr.color").await;
    let body = ok(&app, "/search?max_price=2500&facets=price,attr.color").await;
    assert!(body["total"].as_u64() < unfiltered["total"].as_u64());
    assert_eq!(facet(&body, "price"), facet(&unfiltered, "price"));
    assert_ne!(facet(&body, "attr.color"), facet(&unfiltered, "attr.color"));
    let body = ok(&app, "/search?attr.color=black&facets=attr.color,price").await;
    assert_eq!(body["total"], 3);
    assert_eq!(facet(&body, "attr.color"), facet(&unfiltered, "attr.color"));
    assert_ne!(facet(&body, "price"), facet(&unfiltered, "price"));
    // With text, the same words are required as for the hits.
    let body = ok(&app, "/search?q=tv&brand=lg&facets=brand").await;
    assert_eq!(body["total"], 1);
    assert_eq!(facet(&body, "brand"), pairs(&[("samsung", 2), ("lg", 1)]));
}

#[tokio::test]
async fn pagination_edges() {
    let app = app();
    let pages: Vec<Vec<String>> = futures_pages(&app).await;
    assert_eq!(pages[0], strings(&["p13", "p10", "p09", "p08"]));
    assert_eq!(pages[1], strings(&["p07", "p06", "p05", "p04"]));
    assert_eq!(pages[2], strings(&["p03", "p02", "p01"]));
    assert!(pages[3].is_empty());
    let beyond = ok(&app, "/search?per_page=4&page=9").await;
    assert_eq!(
        (beyond["total"].clone(), beyond["page"].clone()),
        (json!(11), json!(9))
    );
    assert_eq!(
        ok(&app, "/search?per_page=100&page=100").await["hits"],
        json!([])
    );
    let (status, body) = get(&app, "/search?per_page=100&page=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_parameter");
}

async fn futures_pages(app: &axum::Router) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for page in 1..=4 {
        out.push(ids(
            &ok(app, &format!("/search?per_page=4&page={page}")).await
        ));
    }
    out
}

#[tokio::test]
async fn every_error_is_a_json_400_with_a_stable_code() {
    let app = app();
    let cases = [
        (
            "/search?per_page=0",
            "invalid_parameter",
            "per_page must be between 1 and 100",
        ),
        (
            "/search?per_page=abc",
            "invalid_parameter",
            "per_page must be between 1 and 100",
        ),
        (
            "/search?page=0",
            "invalid_parameter",
            "page must be a whole number from 1, got \"0\"",
        ),
        (
            "/search?sort=best",
            "invalid_parameter",
            "sort must be relevance, price_asc, price_desc or newest, got \"best\"",
        ),
        (
            "/search?in_stock=1",
            "invalid_parameter",
            "in_stock must be true or false, got \"1\"",
        ),
        (
            "/search?min_price=ten",
            "invalid_parameter",
            "min_price must be a whole number of cents (0 or more), got \"ten\"",
        ),
        (
            "/search?min_price=9&max_price=1",
            "invalid_parameter",
            "min_price (9) must not be greater than max_price (1)",
        ),
        (
            "/search?facets=color",
            "invalid_parameter",
            "unknown facet \"color\"; facets are brand, category, price, seller_id and attr.NAME",
        ),
        (
            "/search?q=a&q=b",
            "invalid_parameter",
            "q may be given only once",
        ),
        ("/search?color=red", "unknown_parameter", ""),
        ("/suggest", "invalid_parameter", "q is required"),
        ("/suggest?q=a&page=2", "unknown_parameter", ""),
        ("/products/p11", "not_found", "no product \"p11\""),
        ("/nope", "not_found", "no such endpoint"),
    ];
    for (uri, code, message) in cases {
        let (status, body) = get(&app, uri).await;
        assert_eq!(
            status,
            if code == "not_found" { 404 } else { 400 },
            "{uri}: {body}"
        );
        assert_eq!(body["error"]["code"], code, "{uri}: {body}");
        if !message.is_empty() {
            assert_eq!(body["error"]["message"], message, "{uri}");
        }
    }
    let long = format!("/search?q={}", "a".repeat(513));
    let (status, body) = get(&app, &long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "q must be at most 512 characters");
}

#[tokio::test]
async fn product_lookup() {
    let app = app();
    let doc = ok(&app, "/products/p07").await;
    assert_eq!(
        doc["price_cents"], 2199,
        "lowest in-stock price: the 1999 offer has no stock"
    );
    assert_eq!(doc["offer_count"], 2);
    assert_eq!(doc["in_stock"], true);
    assert_eq!(
        get(&app, "/products/p12").await.0,
        StatusCode::NOT_FOUND,
        "orphan"
    );
    let (status, _) = get(&app, &format!("/products/{}", "x".repeat(300))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn suggestions_offer_brands_then_titles() {
    let app = app();
    let body = ok(&app, "/suggest?q=sam").await;
    let s = body["suggestions"].as_array().unwrap();
    assert_eq!(s[0], json!({"text": "Samsung", "kind": "brand"}));
    let titles: Vec<&str> = s[1..].iter().map(|v| v["text"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&"Samsung 55\" QLED 4K Smart TV"));
    assert!(!titles
        .iter()
        .any(|t| t.contains("Canary") || t.contains("Deleted")));

    let body = ok(&app, "/suggest?q=bose+quiet").await;
    assert_eq!(
        body["suggestions"][0]["text"],
        "Bose QuietComfort Headphones"
    );
    assert_eq!(body["suggestions"][0]["product_id"], "p05");

    let body = ok(&app, "/suggest?q=hea&limit=1").await;
    assert_eq!(body["suggestions"].as_array().unwrap().len(), 1);
    assert_eq!(ok(&app, "/suggest?q=").await["suggestions"], json!([]));
    let body = ok(&app, "/suggest?q=zzz").await;
    assert_eq!(body["suggestions"], Value::Array(vec![]));
}

#[tokio::test]
async fn canaries_are_found_only_by_the_canary_checker() {
    let index = crate::common::live_index();
    let params = query_api::SearchParams {
        q: "canary".into(),
        page: 1,
        per_page: 5,
        ..Default::default()
    };
    let with = query_api::search_with(
        &index,
        query_api::Relevance::default(),
        &params,
        &query_api::SearchOptions {
            include_canaries: true,
            deadline: None,
        },
    )
    .unwrap();
    assert_eq!(with.total, 1, "{:?}", with.hits);
    assert_eq!(
        with.hits
            .iter()
            .map(|h| h.product.product_id.as_str())
            .collect::<Vec<_>>(),
        ["__canary__1"]
    );
    let without = query_api::search(&index, query_api::Relevance::default(), &params).unwrap();
    assert_eq!(without.total, 0);
}

/// Regression (issue #14 item 13): a facet over an attribute with a distinct value per
/// product allocated and stringified every value per request (26 s and 264 MiB for 1M
/// products). Now counted in bounded memory: the frequent values are found, the facet is
/// flagged approximate, and exact facets are not.
#[tokio::test]
async fn a_facet_with_a_value_per_product_is_bounded_and_flagged_approximate() {
    use schemas::{AttributeValue, Attributes};
    let n = 80_000;
    // 68,802 distinct values (past the 65,536 counted exactly per segment), but every 10th
    // product shares "HOT-1" and every 25th "HOT-2".
    let index = crate::common::generated_index_with(n, 1, |i| {
        let sku = if i % 10 == 0 {
            "HOT-1".to_owned()
        } else if i % 25 == 1 {
            "HOT-2".to_owned()
        } else {
            format!("SKU-{i}")
        };
        Attributes::from([("sku".to_owned(), AttributeValue::String(sku))])
    });
    let app = query_api::router(query_api::ApiState::new(
        query_api::SharedIndex::new(index),
        SearchSettings::default(),
    ));
    let body = ok(&app, "/search?facets=attr.sku,price&per_page=1").await;
    assert_eq!(body["total"], n);
    assert_eq!(body["facets_approximate"], serde_json::json!(["attr.sku"]));
    let skus = facet(&body, "attr.sku");
    assert_eq!(skus.len(), 20);
    let (hot1, hot2) = (8_000u64, 3_200u64);
    let slack = n as u64 / 4096;
    assert_eq!(skus[0].0, "hot-1");
    assert!(skus[0].1 <= hot1 && skus[0].1 + slack >= hot1, "{skus:?}");
    assert_eq!(skus[1].0, "hot-2");
    assert!(skus[1].1 <= hot2 && skus[1].1 + slack >= hot2, "{skus:?}");
    // Exact facets are not flagged (here: fewer distinct values than a segment passes on).
    let body = ok(
        &crate::common::app(),
        "/search?facets=brand,category,attr.color",
    )
    .await;
    assert!(body.get("facets_approximate").is_none(), "{body}");
}
