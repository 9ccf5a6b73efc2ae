-- wrk script: typical 1-3 word shopper queries with facets, filters and sorts.
local brands = {"samsung", "lg", "sony", "apple", "dell", "hp", "lenovo", "bose", "jbl", "canon",
  "nikon", "lodge", "cuisinart", "kitchenaid", "ninja", "dewalt", "makita", "bosch", "ryobi",
  "stanley", "coleman", "yeti", "lego", "dyson", "starbucks"}
local nouns = {"tv", "laptop", "headphones", "earbuds", "camera", "frying pan", "skillet", "stock pot",
  "blender", "air fryer", "mixer", "sofa", "office chair", "bookshelf", "cordless drill",
  "impact driver", "circular saw", "hammer", "socket set", "tape measure", "treadmill",
  "yoga mat", "tent", "backpack", "cooler", "sleeping bag", "building set", "hair dryer",
  "coffee", "espresso machine", "oled tv", "gaming headset", "wireless headphones", "cast iron"}
local adjectives = {"pro", "compact", "premium", "wireless", "portable", "smart", "deluxe", "black",
  "stainless steel", "red"}
local extras = {"", "", "&facets=brand,category,price", "&facets=brand,category,price",
  "&facets=brand,price&in_stock=true", "&sort=price_asc&facets=brand", "&page=2",
  "&max_price=10000&facets=category"}

math.randomseed(42)

local function pick(t) return t[math.random(#t)] end

local function query()
  local r = math.random(4)
  if r == 1 then return pick(nouns)
  elseif r == 2 then return pick(brands)
  elseif r == 3 then return pick(brands) .. " " .. pick(nouns)
  else return pick(adjectives) .. " " .. pick(nouns) end
end

request = function()
  local q = query():gsub(" ", "+")
  return wrk.format("GET", "/search?q=" .. q .. pick(extras))
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
