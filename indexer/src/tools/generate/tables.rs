//! The vocabulary of the synthetic catalog: categories with their brands, nouns and price
//! ranges, adjectives, colors, materials and sellers.

/// Categories: path, brands, product nouns, and a price range in dollars.
pub(super) struct CategorySpec {
    pub path: &'static [&'static str],
    pub brands: &'static [&'static str],
    pub nouns: &'static [&'static str],
    pub price: (u64, u64),
}

pub(super) const CATEGORIES: &[CategorySpec] = &[
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

pub(super) const ADJECTIVES: &[&str] = &[
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
pub(super) const COLORS: &[&str] = &[
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
pub(super) const MATERIALS: &[&str] = &[
    "Aluminum", "Plastic", "Steel", "Wood", "Cotton", "Glass", "Ceramic",
];
pub(super) const SELLERS: &[(&str, &str)] = &[
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
