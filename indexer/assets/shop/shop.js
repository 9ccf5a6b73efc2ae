// The shopper search page. Plain JS, no dependencies, no build step.
//
// The whole state of the page lives in the URL: the search in the query string
// (`?q=tv&brand=sony&category=Electronics%3ETVs&min_price=2500&max_price=4999&in_stock=true
// &pickup_store=store-003&sort=price_asc&page=2`), an open product in the hash (`#/product/sku-1`). Every change goes
// through `navigate`, which updates the URL and calls `render`; back/forward (`popstate`)
// and reload call `render` too. `render` sends at most one `/search` (only when the search
// changed) and aborts the one in flight.
//
// Product text is always escaped; the only HTML taken from the API is `highlights.title`,
// and only when it contains nothing but `<em>` marks.
'use strict';

(() => {
  const FACETS = 'brand,category,price,seller_id';
  const MAX_RESULT_WINDOW = 10000;
  const DEFAULT_PER_PAGE = 20;
  const SUGGEST_DELAY_MS = 150;
  const SUGGEST_MAX_CHARS = 128;
  const FACET_SHOWN = 8;
  const SEARCH_KEYS = ['q', 'brand', 'category', 'min_price', 'max_price', 'in_stock', 'pickup_store', 'seller_id', 'sort', 'page', 'per_page'];

  const byId = (id) => document.getElementById(id);
  const ui = {
    form: byId('search-form'),
    input: byId('q'),
    suggestions: byId('suggestions'),
    inStock: byId('in-stock'),
    pickup: byId('pickup'),
    pickupStore: byId('pickup-store'),
    facets: byId('facet-groups'),
    filters: document.querySelector('.filters'),
    filtersToggle: byId('filters-toggle'),
    heading: byId('results-heading'),
    count: byId('result-count'),
    sort: byId('sort'),
    active: byId('active-filters'),
    relaxed: byId('relaxed-note'),
    error: byId('error'),
    results: byId('results'),
    empty: byId('empty'),
    pagination: byId('pagination'),
    dialog: byId('product-dialog'),
    productTitle: byId('product-title'),
    productBody: byId('product-body'),
    productClose: byId('product-close'),
  };

  // ---------------------------------------------------------------- formatting

  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(value) {
    return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  // The API's highlight is escaped text with `<em>` marks; anything else is refused.
  function safeHighlight(html) {
    return typeof html === 'string' && /^(?:[^<>]|<em>|<\/em>)*$/.test(html) ? html : null;
  }

  const moneyFormats = new Map();
  function moneyFormat(currency, whole) {
    const key = `${currency}|${whole}`;
    let format = moneyFormats.get(key);
    if (!format) {
      const options = { style: 'currency', currency };
      if (whole) Object.assign(options, { minimumFractionDigits: 0, maximumFractionDigits: 0 });
      try {
        format = new Intl.NumberFormat('en-US', options);
      } catch {
        format = new Intl.NumberFormat('en-US', { ...options, currency: 'USD' });
      }
      moneyFormats.set(key, format);
    }
    return format;
  }
  function money(cents, currency) {
    return moneyFormat(currency || 'USD', false).format(Number(cents) / 100);
  }
  function dollars(cents) {
    const n = Number(cents);
    return moneyFormat('USD', n % 100 === 0).format(n / 100);
  }

  const countFormat = new Intl.NumberFormat('en-US');
  const plural = (n, one, many) => `${countFormat.format(n)} ${n === 1 ? one : many}`;

  function crumbs(category) {
    return (category || []).map(esc).join(' <span aria-hidden="true">›</span><span class="visually-hidden">,</span> ');
  }

  // Display names of lower-cased brand facet values and of seller ids, learned from results.
  const brandNames = new Map();
  const sellerNames = new Map();
  function brandName(key) {
    return brandNames.get(key) || key.replace(/(^|[\s-])(\p{L})/gu, (m, sep, ch) => sep + ch.toUpperCase());
  }
  function learnNames(doc) {
    if (doc.brand) brandNames.set(doc.brand.toLowerCase(), doc.brand);
    for (const offer of doc.offers || []) {
      if (offer.seller_name) sellerNames.set(offer.seller_id, offer.seller_name);
    }
  }

  // ---------------------------------------------------------------- URL state

  function readState() {
    const p = new URLSearchParams(window.location.search);
    const attrs = [];
    for (const [key, value] of p) if (key.startsWith('attr.')) attrs.push([key, value]);
    return {
      q: p.get('q') ?? '',
      brands: p.getAll('brand'),
      category: p.get('category') ?? '',
      min_price: p.get('min_price') ?? '',
      max_price: p.get('max_price') ?? '',
      in_stock: p.get('in_stock') ?? '',
      pickup_store: p.get('pickup_store') ?? '',
      seller_ids: p.getAll('seller_id'),
      attrs,
      sort: p.get('sort') ?? '',
      page: p.get('page') ?? '',
      per_page: p.get('per_page') ?? '',
    };
  }

  function stateParams(s) {
    const p = new URLSearchParams();
    if (s.q) p.set('q', s.q);
    for (const b of s.brands) p.append('brand', b);
    if (s.category) p.set('category', s.category);
    if (s.min_price !== '') p.set('min_price', s.min_price);
    if (s.max_price !== '') p.set('max_price', s.max_price);
    if (s.in_stock !== '') p.set('in_stock', s.in_stock);
    if (s.pickup_store) p.set('pickup_store', s.pickup_store);
    for (const id of s.seller_ids) p.append('seller_id', id);
    for (const [key, value] of s.attrs) p.append(key, value);
    if (s.sort && s.sort !== 'relevance') p.set('sort', s.sort);
    if (s.page && s.page !== '1') p.set('page', s.page);
    if (s.per_page) p.set('per_page', s.per_page);
    return p;
  }

  function productFromHash() {
    const m = /^#\/product\/(.+)$/.exec(window.location.hash);
    if (!m) return null;
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return null;
    }
  }

  function pageUrl(s, product) {
    const qs = stateParams(s).toString();
    return window.location.pathname + (qs ? `?${qs}` : '') + (product ? `#/product/${encodeURIComponent(product)}` : '');
  }

  let state = readState();

  // Moves to a new state: a new history entry (or a replaced one), then render.
  function navigate(next, { product = null, replace = false, force = false, focusResults = false } = {}) {
    const url = pageUrl(next, product);
    const here = window.location.pathname + window.location.search + window.location.hash;
    const entry = product ? { fromList: !productFromHash() } : {};
    if (replace || url === here) window.history.replaceState(entry, '', url);
    else window.history.pushState(entry, '', url);
    if (force) lastSearch = null;
    render();
    if (focusResults) ui.heading.focus({ preventScroll: false });
  }

  // A filter change starts again from page 1.
  function withFilters(changes) {
    return { ...state, ...changes, page: '' };
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, signal) {
    let response;
    try {
      response = await fetch(path, { signal, headers: { Accept: 'application/json' } });
    } catch (e) {
      if (signal.aborted) throw e;
      throw new ApiError('Could not reach the search service. Check your connection and try again.', 0, 'network');
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      if (signal.aborted) throw e;
    }
    if (!response.ok) {
      const error = body && body.error;
      const message = error && error.message
        ? error.message
        : `The search service answered ${response.status} ${response.statusText}`.trim();
      throw new ApiError(message, response.status, error && error.code);
    }
    if (body === null) throw new ApiError('The search service sent an unreadable answer.', response.status, 'bad_response');
    return body;
  }

  const isAbort = (e) => e && e.name === 'AbortError';

  // ---------------------------------------------------------------- rendering

  let lastSearch = null;
  let searchAbort = null;

  function render({ fromHistory = false } = {}) {
    state = readState();
    syncControls(fromHistory);
    const params = stateParams(state);
    params.set('facets', FACETS);
    const key = params.toString();
    if (key !== lastSearch) {
      lastSearch = key;
      runSearch(key);
    }
    const product = productFromHash();
    if (product) {
      if (product !== shownProduct) openProduct(product);
    } else if (ui.dialog.open || shownProduct) {
      closeProductView();
    }
  }

  // The controls show the URL's state; text being typed stays unless the history moved.
  function syncControls(fromHistory) {
    if (fromHistory || document.activeElement !== ui.input || ui.input.value.trim() === '') ui.input.value = state.q;
    ui.sort.value = ['price_asc', 'price_desc', 'newest'].includes(state.sort) ? state.sort : 'relevance';
    ui.inStock.checked = state.in_stock === 'true';
    syncPickup();
    renderActiveFilters();
    ui.filtersToggle.textContent = filterList.length ? `Filters (${filterList.length})` : 'Filters';
    document.title = state.q ? `“${state.q}” – Product search` : 'Product search';
  }

  async function runSearch(key) {
    if (searchAbort) searchAbort.abort();
    const controller = new AbortController();
    searchAbort = controller;
    ui.results.setAttribute('aria-busy', 'true');
    document.body.classList.add('loading');
    try {
      const data = await api(`/search?${key}`, controller.signal);
      if (controller !== searchAbort) return;
      showError(null);
      renderResults(data);
    } catch (e) {
      if (isAbort(e) || controller !== searchAbort) return;
      lastSearch = null; // the same search may be retried
      showError(e.message);
      ui.count.textContent = 'Search failed';
      ui.results.innerHTML = '';
      ui.empty.hidden = true;
      ui.pagination.hidden = true;
      ui.relaxed.hidden = true;
    } finally {
      if (controller === searchAbort) {
        ui.results.removeAttribute('aria-busy');
        document.body.classList.remove('loading');
      }
    }
  }

  function showError(message) {
    ui.error.hidden = !message;
    ui.error.innerHTML = message
      ? `<strong>Something went wrong.</strong> <span data-testid="error-text">${esc(message)}</span>`
      : '';
  }

  function renderResults(data) {
    const hits = data.hits || [];
    for (const hit of hits) learnNames(hit.product);
    const total = Number(data.total) || 0;
    const page = Number(data.page) || 1;
    const perPage = Number(data.per_page) || DEFAULT_PER_PAGE;

    const what = plural(total, 'product', 'products');
    const first = (page - 1) * perPage + 1;
    let summary = total === 0 ? 'No products found' : what;
    if (state.q) summary += ` for “${state.q}”`;
    if (total > perPage && hits.length) summary += ` · showing ${countFormat.format(first)}–${countFormat.format(first + hits.length - 1)}`;
    ui.count.textContent = summary;
    ui.count.dataset.total = String(total);

    ui.relaxed.hidden = !data.relaxed;
    ui.relaxed.textContent = data.relaxed
      ? `No product matches every word, so these match ${data.matched_words} of your ${data.words} words.`
      : '';

    ui.results.innerHTML = hits.map(renderHit).join('');
    ui.empty.hidden = hits.length > 0;
    if (!hits.length) {
      const filtered = activeFilters().length > 0;
      ui.empty.innerHTML = total > 0
        ? `<p>This page is past the last result.</p><p><button type="button" class="link" data-action="page" data-page="1">Go to the first page</button></p>`
        : `<p>No products match${state.q ? ` “${esc(state.q)}”` : ''}${filtered ? ' with these filters' : ''}.</p>`
          + (filtered ? '<p><button type="button" class="link" data-action="clear-filters">Clear all filters</button></p>' : '<p>Check the spelling or try a more general word.</p>');
    }
    lastFacets = data.facets || {};
    renderFacets(lastFacets);
    renderPagination(total, page, perPage);
  }

  function renderHit(hit) {
    const doc = hit.product;
    const highlighted = safeHighlight(hit.highlights && hit.highlights.title);
    const title = highlighted !== null ? highlighted : esc(doc.title);
    const price = doc.price_cents === null || doc.price_cents === undefined
      ? '<span class="no-price">No price</span>'
      : `<span class="visually-hidden">Lowest price </span><span class="amount" data-testid="result-amount">${esc(money(doc.price_cents, doc.currency))}</span>`;
    const stock = doc.in_stock
      ? '<span class="stock in">In stock</span>'
      : '<span class="stock out">Out of stock</span>';
    const offers = doc.offer_count || 0;
    const pickup = doc.pickup
      ? `<p class="pickup-line" data-testid="result-pickup" data-store="${esc(doc.pickup.store_id)}" data-quantity="${esc(doc.pickup.quantity)}">Pickup today at ${esc(doc.pickup.store_id)} · ${esc(plural(doc.pickup.quantity, 'unit', 'units'))}</p>`
      : '';
    return `<li class="hit" data-testid="result-item" data-product-id="${esc(doc.product_id)}">
      <div class="hit-main">
        <h3 class="hit-title"><a href="${esc(pageUrl(state, doc.product_id))}" data-action="open-product"
            data-product-id="${esc(doc.product_id)}" data-testid="result-title">${title}</a></h3>
        <p class="hit-meta">${doc.brand ? `<span class="brand" data-testid="result-brand">${esc(doc.brand)}</span>` : ''}
          ${doc.category && doc.category.length ? `<span class="crumbs">${crumbs(doc.category)}</span>` : ''}</p>
      </div>
      <div class="hit-buy">
        <p class="price" data-testid="result-price" data-cents="${esc(doc.price_cents ?? '')}">${price}</p>
        <p data-testid="result-stock">${stock}</p>
        <p class="offers" data-testid="result-offers">${esc(plural(offers, 'offer', 'offers'))}</p>
        ${pickup}
      </div>
    </li>`;
  }

  // ---------------------------------------------------------------- facets

  const expanded = new Set();
  let lastFacets = {};

  function facetButton(facet, value, label, count, pressed, extra = '') {
    return `<button type="button" class="facet-value" data-testid="facet-value" data-action="facet"
        data-facet="${esc(facet)}" data-value="${esc(value)}" aria-pressed="${pressed}" ${extra}>
        <span class="label">${esc(label)}</span>
        <span class="count">${esc(countFormat.format(count))}<span class="visually-hidden"> products</span></span>
      </button>`;
  }

  function facetGroup(name, title, itemsHtml, total) {
    let more = '';
    if (total > FACET_SHOWN) {
      const open = expanded.has(name);
      more = `<button type="button" class="link more" data-action="more" data-facet="${name}" aria-expanded="${open}">
        ${open ? 'Show fewer' : `Show all ${total}`}</button>`;
    }
    return `<section class="facet" data-testid="facet-${name}" aria-labelledby="facet-h-${name}">
      <h3 id="facet-h-${name}">${title}</h3>${itemsHtml}${more}</section>`;
  }

  function termFacet(name, title, values, isPressed, labelOf) {
    if (!values || !values.length) return '';
    const limit = expanded.has(name) ? values.length : FACET_SHOWN;
    // Selected values always show, even past the limit.
    const shown = values.filter((v, i) => i < limit || isPressed(v.value));
    const items = shown
      .map((v) => `<li>${facetButton(name, v.value, labelOf(v.value), v.count, isPressed(v.value))}</li>`)
      .join('');
    return facetGroup(name, title, `<ul class="facet-list">${items}</ul>`, values.length);
  }

  function categoryFacet(values) {
    if (!values || !values.length) return '';
    const counts = new Map(values.map((v) => [v.value, v.count]));
    const children = new Map();
    const roots = [];
    for (const v of values) {
      const cut = v.value.lastIndexOf('>');
      const parent = cut < 0 ? null : v.value.slice(0, cut);
      if (parent !== null && counts.has(parent)) {
        if (!children.has(parent)) children.set(parent, []);
        children.get(parent).push(v.value);
      } else {
        roots.push(v.value); // a root, or a child whose parent fell out of the top values
      }
    }
    const byCount = (a, b) => counts.get(b) - counts.get(a) || a.localeCompare(b);
    const selected = state.category;
    const tree = (paths, depth) => `<ul class="facet-list${depth ? ' nested' : ''}">${paths.sort(byCount).map((path) => {
      const segments = path.split('>');
      const label = segments[segments.length - 1];
      const kids = children.get(path);
      const pressed = path === selected;
      const button = facetButton('category', path, label, counts.get(path), pressed,
        `data-depth="${segments.length - 1}" style="--depth:${segments.length - 1}" title="${esc(segments.join(' › '))}"`);
      return `<li>${button}${kids ? tree(kids, depth + 1) : ''}</li>`;
    }).join('')}</ul>`;
    return facetGroup('category', 'Category', tree(roots, 0), 0);
  }

  function priceLabel(from, to) {
    if (to === null || to === undefined) return `${dollars(from)} & above`;
    if (from === 0) return `Under ${dollars(to)}`;
    return `${dollars(from)} – ${dollars(to)}`;
  }

  function priceFacet(values) {
    if (!values || !values.length) return '';
    const items = values
      .filter((v) => v.count > 0 || pricePressed(v))
      .map((v) => {
        const max = v.to === null || v.to === undefined ? '' : String(v.to - 1);
        return `<li>${facetButton('price', v.value, priceLabel(v.from, v.to), v.count, pricePressed(v),
          `data-min="${esc(v.from)}" data-max="${esc(max)}"`)}</li>`;
      })
      .join('');
    if (!items) return '';
    return facetGroup('price', 'Price', `<ul class="facet-list">${items}</ul>`, 0);
  }

  function pricePressed(v) {
    const max = v.to === null || v.to === undefined ? '' : String(v.to - 1);
    return state.min_price === String(v.from) && state.max_price === max;
  }

  function renderFacets(facets) {
    const brands = new Set(state.brands.map((b) => b.toLowerCase()));
    const sellers = new Set(state.seller_ids);
    const focusKey = focusedFacetKey();
    ui.facets.innerHTML = [
      categoryFacet(facets.category),
      termFacet('brand', 'Brand', facets.brand, (v) => brands.has(v), brandName),
      priceFacet(facets.price),
      termFacet('seller_id', 'Seller', facets.seller_id, (v) => sellers.has(v), (v) => sellerNames.get(v) || v),
    ].join('');
    restoreFacetFocus(focusKey);
  }

  // Re-rendering replaces the buttons: keep the keyboard focus on the same facet value.
  function focusedFacetKey() {
    const a = document.activeElement;
    if (!a || !ui.facets.contains(a)) return null;
    return a.dataset.action === 'more' ? `more|${a.dataset.facet}` : `${a.dataset.facet}|${a.dataset.value}`;
  }
  function restoreFacetFocus(key) {
    if (!key) return;
    const [facet, value] = key.split('|');
    const target = [...ui.facets.querySelectorAll('button')].find((b) => (facet === 'more'
      ? b.dataset.action === 'more' && b.dataset.facet === value
      : b.dataset.facet === facet && b.dataset.value === value));
    if (target) target.focus();
    else ui.heading.focus();
  }

  function facetClicked(button) {
    const { facet, value } = button.dataset;
    const pressed = button.getAttribute('aria-pressed') === 'true';
    if (facet === 'brand') {
      const brands = state.brands.filter((b) => b.toLowerCase() !== value);
      if (!pressed) brands.push(value);
      navigate(withFilters({ brands }));
    } else if (facet === 'seller_id') {
      const seller_ids = state.seller_ids.filter((s) => s !== value);
      if (!pressed) seller_ids.push(value);
      navigate(withFilters({ seller_ids }));
    } else if (facet === 'category') {
      navigate(withFilters({ category: pressed ? '' : value }));
    } else if (facet === 'price') {
      navigate(withFilters(pressed
        ? { min_price: '', max_price: '' }
        : { min_price: button.dataset.min, max_price: button.dataset.max }));
    }
  }

  // ---------------------------------------------------------------- active filters

  function activeFilters() {
    const list = [];
    for (const b of state.brands) {
      list.push({ kind: 'brand', value: b, label: `Brand: ${brandName(b.toLowerCase())}`, remove: () => ({ brands: state.brands.filter((x) => x !== b) }) });
    }
    if (state.category) {
      list.push({ kind: 'category', value: state.category, label: `Category: ${state.category.split('>').join(' › ')}`, remove: () => ({ category: '' }) });
    }
    if (state.min_price !== '' || state.max_price !== '') {
      const lo = state.min_price;
      const hi = state.max_price;
      const valid = (v) => /^\d+$/.test(v);
      let label;
      if (!valid(lo || '0') || !valid(hi || '0')) label = `Price: ${lo || '…'} – ${hi || '…'} cents`;
      else if (lo !== '' && hi !== '') label = `Price: ${dollars(lo)} – ${dollars(hi)}`;
      else if (lo !== '') label = `Price: ${dollars(lo)} & above`;
      else label = `Price: up to ${dollars(hi)}`;
      list.push({ kind: 'price', value: `${lo}-${hi}`, label, remove: () => ({ min_price: '', max_price: '' }) });
    }
    if (state.in_stock !== '') {
      list.push({ kind: 'in_stock', value: state.in_stock, label: state.in_stock === 'true' ? 'In stock only' : state.in_stock === 'false' ? 'Out of stock only' : `In stock: ${state.in_stock}`, remove: () => ({ in_stock: '' }) });
    }
    if (state.pickup_store) {
      list.push({ kind: 'pickup_store', value: state.pickup_store, label: `Pickup at ${state.pickup_store}`, remove: () => ({ pickup_store: '' }) });
    }
    for (const id of state.seller_ids) {
      list.push({ kind: 'seller_id', value: id, label: `Seller: ${sellerNames.get(id) || id}`, remove: () => ({ seller_ids: state.seller_ids.filter((x) => x !== id) }) });
    }
    state.attrs.forEach(([key, value], i) => {
      list.push({ kind: key, value, label: `${key.slice(5).replace(/_/g, ' ')}: ${value}`, remove: () => ({ attrs: state.attrs.filter((_, j) => j !== i) }) });
    });
    return list;
  }

  let filterList = [];
  function renderActiveFilters() {
    filterList = activeFilters();
    ui.active.hidden = filterList.length === 0;
    if (!filterList.length) {
      ui.active.innerHTML = '';
      return;
    }
    ui.active.innerHTML = `<span class="active-label" id="active-label">Active filters:</span>
      <ul class="chips" aria-labelledby="active-label">${filterList.map((f, i) => `<li>
        <button type="button" class="chip" data-action="remove-filter" data-index="${i}" data-testid="active-filter"
          data-filter="${esc(f.kind)}" data-value="${esc(f.value)}" aria-label="Remove filter ${esc(f.label)}">
          ${esc(f.label)} <span class="x" aria-hidden="true">×</span></button></li>`).join('')}</ul>
      ${filterList.length > 1 ? '<button type="button" class="link" data-action="clear-filters" data-testid="clear-filters">Clear all</button>' : ''}`;
  }

  function clearFilters() {
    return withFilters({ brands: [], category: '', min_price: '', max_price: '', in_stock: '', pickup_store: '', seller_ids: [], attrs: [] });
  }

  // ---------------------------------------------------------------- pickup in store

  // The store picker lists `/stores` (shown only when the catalog has stores); a store in
  // the URL that is not listed stays selectable, so a shared link keeps its filter.
  let storeList = [];

  function syncPickup() {
    const wanted = state.pickup_store;
    const listed = storeList.map((s) => s.store_id);
    const options = [['', 'Any store (delivery)']]
      .concat(storeList.map((s) => [s.store_id, `${s.store_id} (${countFormat.format(s.products)})`]));
    if (wanted && !listed.includes(wanted)) options.push([wanted, wanted]);
    ui.pickupStore.innerHTML = options
      .map(([value, label]) => `<option value="${esc(value)}">${esc(label)}</option>`).join('');
    ui.pickupStore.value = wanted;
    ui.pickup.hidden = options.length <= 1;
  }

  async function loadStores() {
    try {
      const body = await api('/stores', new AbortController().signal);
      storeList = Array.isArray(body.stores) ? body.stores : [];
    } catch {
      storeList = []; // the picker stays hidden; search works without it
    }
    syncPickup();
  }

  // ---------------------------------------------------------------- pagination

  function renderPagination(total, page, perPage) {
    const last = Math.max(1, Math.min(Math.ceil(total / perPage), Math.floor(MAX_RESULT_WINDOW / perPage)));
    if (last <= 1 && page <= 1) {
      ui.pagination.hidden = true;
      ui.pagination.innerHTML = '';
      return;
    }
    const pages = new Set([1, last]);
    for (let p = page - 2; p <= page + 2; p++) if (p >= 1 && p <= last) pages.add(p);
    const sorted = [...pages].sort((a, b) => a - b);
    const link = (p, text, testid, label) => `<a href="${esc(pageUrl({ ...state, page: String(p) }))}" data-action="page"
        data-page="${p}" data-testid="${testid}"${label ? ` aria-label="${label}"` : ''}${p === page && testid === 'page-link' ? ' aria-current="page"' : ''}>${text}</a>`;
    const disabled = (text, testid) => `<span class="disabled" aria-disabled="true" data-testid="${testid}">${text}</span>`;
    let html = page > 1 ? link(page - 1, '‹ Previous', 'page-prev', 'Previous page') : disabled('‹ Previous', 'page-prev');
    html += '<ul>';
    let previous = 0;
    for (const p of sorted) {
      if (p - previous > 1) html += '<li class="gap" aria-hidden="true">…</li>';
      html += `<li>${link(p, countFormat.format(p), 'page-link', `Page ${p}`)}</li>`;
      previous = p;
    }
    html += '</ul>';
    html += page < last ? link(page + 1, 'Next ›', 'page-next', 'Next page') : disabled('Next ›', 'page-next');
    ui.pagination.innerHTML = html;
    ui.pagination.hidden = false;
  }

  // ---------------------------------------------------------------- suggestions

  let suggestTimer = 0;
  let suggestAbort = null;
  let suggestions = [];
  let activeSuggestion = -1;

  function closeSuggestions() {
    clearTimeout(suggestTimer);
    if (suggestAbort) suggestAbort.abort();
    suggestAbort = null;
    suggestions = [];
    activeSuggestion = -1;
    ui.suggestions.hidden = true;
    ui.suggestions.innerHTML = '';
    ui.input.setAttribute('aria-expanded', 'false');
    ui.input.removeAttribute('aria-activedescendant');
  }

  function markMatch(text, q) {
    const at = text.toLowerCase().indexOf(q.toLowerCase());
    if (!q || at < 0) return esc(text);
    return `${esc(text.slice(0, at))}<mark>${esc(text.slice(at, at + q.length))}</mark>${esc(text.slice(at + q.length))}`;
  }

  function showSuggestions(list, q) {
    suggestions = list;
    activeSuggestion = -1;
    ui.input.removeAttribute('aria-activedescendant');
    if (!list.length) {
      ui.suggestions.hidden = true;
      ui.suggestions.innerHTML = '';
      ui.input.setAttribute('aria-expanded', 'false');
      return;
    }
    ui.suggestions.innerHTML = list.map((s, i) => `<li id="suggestion-${i}" role="option" aria-selected="false"
        class="suggestion" data-index="${i}" data-kind="${esc(s.kind)}" data-testid="suggestion-item">
        <span class="suggestion-text">${markMatch(s.text, q)}</span>
        <span class="suggestion-kind">${s.kind === 'brand' ? 'Brand' : 'Product'}</span></li>`).join('');
    ui.suggestions.hidden = false;
    ui.input.setAttribute('aria-expanded', 'true');
  }

  function setActiveSuggestion(i) {
    activeSuggestion = i;
    ui.suggestions.querySelectorAll('[role="option"]').forEach((li, j) => {
      li.setAttribute('aria-selected', String(j === i));
      if (j === i) li.scrollIntoView({ block: 'nearest' });
    });
    if (i >= 0) ui.input.setAttribute('aria-activedescendant', `suggestion-${i}`);
    else ui.input.removeAttribute('aria-activedescendant');
  }

  async function fetchSuggestions(q) {
    if (suggestAbort) suggestAbort.abort();
    const controller = new AbortController();
    suggestAbort = controller;
    try {
      const data = await api(`/suggest?q=${encodeURIComponent(q)}`, controller.signal);
      if (controller !== suggestAbort || ui.input.value.trim() !== q || document.activeElement !== ui.input) return;
      for (const s of data.suggestions || []) if (s.kind === 'brand') brandNames.set(s.text.toLowerCase(), s.text);
      showSuggestions(data.suggestions || [], q);
    } catch (e) {
      // Suggestions are a convenience: a failure just shows none.
      if (!isAbort(e) && controller === suggestAbort) showSuggestions([], q);
    }
  }

  function chooseSuggestion(i) {
    const s = suggestions[i];
    if (!s) return;
    closeSuggestions();
    if (s.kind === 'brand') {
      ui.input.value = '';
      navigate({ ...clearFilters(), sort: state.sort, in_stock: state.in_stock, q: '', brands: [s.text] }, { focusResults: true });
    } else if (s.product_id) {
      navigate(state, { product: s.product_id });
    } else {
      ui.input.value = s.text;
      navigate({ ...state, q: s.text, page: '' }, { force: true });
    }
  }

  ui.input.addEventListener('input', () => {
    clearTimeout(suggestTimer);
    const q = ui.input.value.trim();
    if (!q || q.length > SUGGEST_MAX_CHARS) {
      closeSuggestions();
      return;
    }
    suggestTimer = setTimeout(() => fetchSuggestions(q), SUGGEST_DELAY_MS);
  });

  ui.input.addEventListener('keydown', (e) => {
    const open = !ui.suggestions.hidden && suggestions.length > 0;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!open) {
        const q = ui.input.value.trim();
        if (q && q.length <= SUGGEST_MAX_CHARS) fetchSuggestions(q);
        e.preventDefault();
        return;
      }
      e.preventDefault();
      const n = suggestions.length;
      const next = e.key === 'ArrowDown'
        ? (activeSuggestion + 1) % n
        : (activeSuggestion <= 0 ? n - 1 : activeSuggestion - 1);
      setActiveSuggestion(next);
    } else if (e.key === 'Enter') {
      if (open && activeSuggestion >= 0) {
        e.preventDefault();
        chooseSuggestion(activeSuggestion);
      }
    } else if (e.key === 'Escape') {
      // In a search field Escape would also clear the text: only close the list.
      if (open) e.preventDefault();
      closeSuggestions();
    } else if (e.key === 'Tab') {
      closeSuggestions();
    }
  });

  ui.input.addEventListener('blur', () => closeSuggestions());
  // Keep the focus in the input while a suggestion is clicked.
  ui.suggestions.addEventListener('mousedown', (e) => e.preventDefault());
  ui.suggestions.addEventListener('click', (e) => {
    const li = e.target.closest('[role="option"]');
    if (li) chooseSuggestion(Number(li.dataset.index));
  });

  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    closeSuggestions();
    navigate({ ...state, q: ui.input.value.trim(), page: '' }, { force: true });
  });

  // ---------------------------------------------------------------- product detail

  let shownProduct = null;
  let productAbort = null;
  let returnFocus = null;

  async function openProduct(id) {
    shownProduct = id;
    if (!ui.dialog.open) {
      returnFocus = document.activeElement;
      ui.dialog.showModal();
      ui.productClose.focus();
    }
    ui.productTitle.textContent = 'Loading product…';
    ui.productBody.innerHTML = '<p class="loading-text">Loading…</p>';
    ui.dialog.setAttribute('aria-busy', 'true');
    if (productAbort) productAbort.abort();
    const controller = new AbortController();
    productAbort = controller;
    try {
      const at = state.pickup_store ? `?store=${encodeURIComponent(state.pickup_store)}` : '';
      const doc = await api(`/products/${encodeURIComponent(id)}${at}`, controller.signal);
      if (controller !== productAbort) return;
      learnNames(doc);
      renderProduct(doc);
    } catch (e) {
      if (isAbort(e) || controller !== productAbort) return;
      ui.productTitle.textContent = e.status === 404 ? 'Product not found' : 'Product unavailable';
      ui.productBody.innerHTML = `<p class="error" role="alert" data-testid="product-error">${esc(e.message)}</p>`;
    } finally {
      if (controller === productAbort) ui.dialog.removeAttribute('aria-busy');
    }
  }

  const CONDITIONS = { new: 'New', refurbished: 'Refurbished', used: 'Used' };

  function renderProduct(doc) {
    ui.productTitle.textContent = doc.title;
    const offers = [...(doc.offers || [])].sort((a, b) => (b.in_stock - a.in_stock)
      || ((a.price_cents ?? Infinity) - (b.price_cents ?? Infinity))
      || a.offer_id.localeCompare(b.offer_id));
    const best = doc.in_stock ? offers.find((o) => o.in_stock && o.price_cents === doc.price_cents) : null;
    const rows = offers.map((o) => {
      const price = o.price_cents === null || o.price_cents === undefined
        ? '<span class="no-price">No price</span>'
        : `<span class="offer-amount">${esc(money(o.price_cents, o.currency))}${o.list_price_cents && o.list_price_cents > o.price_cents
          ? ` <del class="list-price"><span class="visually-hidden">List price </span>${esc(money(o.list_price_cents, o.currency))}</del>` : ''}</span>`;
      return `<tr data-testid="offer-row" data-offer-id="${esc(o.offer_id)}" data-in-stock="${o.in_stock}"${o === best ? ' class="best"' : ''}>
        <th scope="row"><span class="seller-name" data-testid="offer-seller">${esc(o.seller_name || o.seller_id)}</span>
          ${o === best ? '<span class="badge">Lowest price</span>' : ''}</th>
        <td data-label="Condition" data-testid="offer-condition">${esc(CONDITIONS[o.condition] || o.condition)}</td>
        <td data-label="Price" class="num" data-testid="offer-price" data-cents="${esc(o.price_cents ?? '')}">${price}</td>
        <td data-label="Quantity" class="num" data-testid="offer-quantity">${esc(countFormat.format(o.quantity || 0))}</td>
        <td data-label="Availability" data-testid="offer-stock">${o.in_stock ? '<span class="stock in">In stock</span>' : '<span class="stock out">Out of stock</span>'}</td>
      </tr>`;
    }).join('');
    const attributes = Object.entries(doc.attributes || {});
    const updated = doc.updated_at ? new Date(doc.updated_at) : null;
    ui.productBody.innerHTML = `
      <p class="detail-meta">${doc.brand ? `<span class="brand" data-testid="product-detail-brand">${esc(doc.brand)}</span>` : ''}
        ${doc.category && doc.category.length ? `<span class="crumbs">${crumbs(doc.category)}</span>` : ''}</p>
      <div class="detail-summary">
        <p class="price big" data-testid="product-detail-price" data-cents="${esc(doc.price_cents ?? '')}">${doc.price_cents === null || doc.price_cents === undefined
          ? '<span class="no-price">No price</span>'
          : `<span class="visually-hidden">Lowest price </span><span class="amount" data-testid="product-detail-amount">${esc(money(doc.price_cents, doc.currency))}</span>`}</p>
        <p>${doc.in_stock ? '<span class="stock in">In stock</span>' : '<span class="stock out">Out of stock</span>'}
          · ${esc(plural(doc.offer_count || 0, 'offer', 'offers'))}</p>
        ${state.pickup_store ? `<p class="pickup-line" data-testid="product-pickup">${doc.pickup
          ? `Pickup today at ${esc(doc.pickup.store_id)} · ${esc(plural(doc.pickup.quantity, 'unit', 'units'))} of offer ${esc(doc.pickup.offer_id)}`
          : `Not in stock at ${esc(state.pickup_store)}`}</p>` : ''}
      </div>
      ${doc.description ? `<p class="description" data-testid="product-detail-description">${esc(doc.description)}</p>` : ''}
      ${attributes.length ? `<dl class="attributes">${attributes.map(([k, v]) => `<div><dt>${esc(k.replace(/_/g, ' '))}</dt><dd>${esc(typeof v === 'boolean' ? (v ? 'yes' : 'no') : v)}</dd></div>`).join('')}</dl>` : ''}
      <h3 class="offers-heading">Offers</h3>
      ${offers.length ? `<div class="table-wrap"><table class="offers-table" data-testid="offer-table">
        <caption class="visually-hidden">All offers, in stock first, cheapest first</caption>
        <thead><tr><th scope="col">Seller</th><th scope="col">Condition</th><th scope="col" class="num">Price</th>
          <th scope="col" class="num">Quantity</th><th scope="col">Availability</th></tr></thead>
        <tbody>${rows}</tbody></table></div>` : '<p>No seller offers this product right now.</p>'}
      <p class="fine-print">Product ${esc(doc.product_id)}${updated ? ` · updated <time datetime="${esc(updated.toISOString())}">${esc(updated.toLocaleString('en-US'))}</time>` : ''}</p>`;
  }

  function closeProductView() {
    if (productAbort) productAbort.abort();
    productAbort = null;
    shownProduct = null;
    if (ui.dialog.open) ui.dialog.close();
    const target = returnFocus && returnFocus.isConnected ? returnFocus : null;
    returnFocus = null;
    if (target) target.focus();
  }

  // Closing goes back when the dialog was opened from the list, so back/forward stay natural.
  function requestClose() {
    if (window.history.state && window.history.state.fromList) window.history.back();
    else navigate(state, { replace: true });
  }

  ui.productClose.addEventListener('click', requestClose);
  // Escape closes the dialog natively; then the URL follows.
  ui.dialog.addEventListener('close', () => {
    if (shownProduct) requestClose();
  });
  ui.dialog.addEventListener('click', (e) => {
    if (e.target === ui.dialog) requestClose(); // a click on the backdrop
  });

  // ---------------------------------------------------------------- page events

  // Small screens fold the filters away behind a button.
  ui.filtersToggle.addEventListener('click', () => {
    const open = ui.filtersToggle.getAttribute('aria-expanded') !== 'true';
    ui.filtersToggle.setAttribute('aria-expanded', String(open));
    ui.filters.classList.toggle('open', open);
  });

  ui.sort.addEventListener('change', () => navigate({ ...state, sort: ui.sort.value, page: '' }));
  ui.inStock.addEventListener('change', () => navigate(withFilters({ in_stock: ui.inStock.checked ? 'true' : '' })));
  ui.pickupStore.addEventListener('change', () => navigate(withFilters({ pickup_store: ui.pickupStore.value }), { focusResults: true }));

  document.addEventListener('click', (e) => {
    const target = e.target.closest('[data-action]');
    if (!target || e.button !== 0) return;
    // Let the browser open links in a new tab or window.
    if (target.tagName === 'A' && (e.metaKey || e.ctrlKey || e.shiftKey || e.altKey)) return;
    switch (target.dataset.action) {
      case 'facet':
        facetClicked(target);
        break;
      case 'more':
        if (expanded.has(target.dataset.facet)) expanded.delete(target.dataset.facet);
        else expanded.add(target.dataset.facet);
        renderFacets(lastFacets);
        break;
      case 'remove-filter': {
        const filter = filterList[Number(target.dataset.index)];
        if (filter) navigate(withFilters(filter.remove()), { focusResults: true });
        break;
      }
      case 'clear-filters':
        navigate(clearFilters(), { focusResults: true });
        break;
      case 'page':
        e.preventDefault();
        navigate({ ...state, page: target.dataset.page === '1' ? '' : target.dataset.page });
        ui.heading.focus({ preventScroll: true });
        window.scrollTo({ top: 0 });
        break;
      case 'open-product':
        e.preventDefault();
        navigate(state, { product: target.dataset.productId });
        break;
      default:
    }
  });

  window.addEventListener('popstate', () => render({ fromHistory: true }));
  window.addEventListener('hashchange', () => render({ fromHistory: true }));

  // Only the search keys reach the API; anything else in the URL is dropped.
  (() => {
    const p = new URLSearchParams(window.location.search);
    const unknown = [...p.keys()].some((k) => !SEARCH_KEYS.includes(k) && !k.startsWith('attr.'));
    if (unknown) window.history.replaceState(window.history.state, '', pageUrl(readState(), productFromHash()));
  })();
  render();
  loadStores();
})();
