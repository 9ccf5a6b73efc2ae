//! Rendering a product's merge state into its merged document.

use schemas::{OfferDocument, ProductDocument};

use super::state::{ProductState, Versioned};

impl ProductState {
    /// The greatest `ts` among all stored records of the product, tombstones included.
    pub fn updated_at(&self) -> u64 {
        let product = self.product.as_ref().map(|p| p.ts);
        let children = self.offers.values().flat_map(|s| {
            [
                s.offer.as_ref().map(|r| r.ts),
                s.price.as_ref().map(|r| r.ts),
                s.inventory.as_ref().map(|r| r.ts),
            ]
        });
        std::iter::once(product)
            .chain(children)
            .flatten()
            .max()
            .unwrap_or(0)
    }

    /// The merged document, or `None` when the product is not visible (no product record yet,
    /// or deleted).
    pub fn render(&self) -> Option<ProductDocument> {
        let Some(Versioned {
            version,
            value: Some(body),
            ..
        }) = &self.product
        else {
            return None;
        };
        let offers: Vec<OfferDocument> = self
            .offers
            .iter()
            .filter_map(|(offer_id, slot)| {
                let offer = slot.offer.as_ref()?.value.as_ref()?;
                let price = slot.price.as_ref().map(|p| &p.value);
                let quantity = slot.inventory.as_ref().map_or(0, |i| i.value);
                Some(OfferDocument {
                    offer_id: offer_id.clone(),
                    seller_id: offer.seller_id.clone(),
                    seller_name: offer.seller_name.clone(),
                    condition: offer.condition,
                    price_cents: price.map(|p| p.price_cents),
                    currency: price.map(|p| p.currency.clone()),
                    list_price_cents: price.and_then(|p| p.list_price_cents),
                    quantity,
                    in_stock: price.is_some() && quantity > 0,
                })
            })
            .collect();
        // Offers are in offer_id order, so `min_by_key` keeps the lowest offer_id on a tie.
        let cheapest = offers
            .iter()
            .filter(|o| o.in_stock)
            .min_by_key(|o| o.price_cents);
        Some(ProductDocument {
            product_id: self.product_id.clone(),
            title: body.title.clone(),
            description: body.description.clone(),
            brand: body.brand.clone(),
            category: body.category.clone(),
            attributes: body.attributes.clone(),
            price_cents: cheapest.and_then(|o| o.price_cents),
            currency: cheapest.and_then(|o| o.currency.clone()),
            in_stock: cheapest.is_some(),
            offer_count: offers.len() as u64,
            updated_at: self.updated_at(),
            version: *version,
            offers,
        })
    }
}
