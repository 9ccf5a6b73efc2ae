//! Products from a CSV of real listings (`id,title,category,brand,modelno,price,
//! proddescrlong`, as in `../shared/data/walmart_products.csv`).

use std::path::Path;

use super::GenerateError;

#[derive(Debug, Clone)]
pub(super) struct CsvProduct {
    pub id: String,
    pub title: String,
    pub category: String,
    pub brand: String,
    pub modelno: String,
    pub price_cents: Option<u64>,
    pub description: String,
}

/// The first `products` rows of the CSV at `path` that have an id and a title.
pub(super) fn read_products(
    path: &Path,
    products: usize,
) -> Result<Vec<CsvProduct>, GenerateError> {
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
    Ok(list)
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
