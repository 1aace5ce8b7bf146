"""Constants of the simulated retailer: its categories, channels, carriers and geography.

Integer codes used inside the simulator index into these tuples; the writer turns them
into the contract's strings.
"""

from __future__ import annotations

import numpy as np

DAY = 86_400
HOUR = 3_600

CATEGORIES = ("electronics", "apparel", "footwear", "home", "beauty", "toys", "grocery")
# share of SKUs, (median list price, sigma), weight kg, return rate of a delivered line
CAT_SKU_SHARE = np.array([0.12, 0.30, 0.12, 0.16, 0.12, 0.10, 0.08])
CAT_PRICE = np.array([[180.0, 0.9], [38.0, 0.55], [75.0, 0.45], [45.0, 0.8], [18.0, 0.5], [25.0, 0.6], [7.0, 0.5]])
CAT_WEIGHT = np.array([2.0, 0.5, 1.1, 3.5, 0.3, 1.0, 1.2])
CAT_RETURN_RATE = np.array([0.055, 0.115, 0.095, 0.035, 0.025, 0.03, 0.004])
ELECTRONICS, APPAREL, FOOTWEAR, HOME, BEAUTY, TOYS, GROCERY = range(7)

NODE_TYPES = ("dc", "store", "marketplace_seller")
DC, STORE, SELLER = range(3)
CHANNELS = ("web", "app", "store", "marketplace", "call_center")
WEB, APP, STORE_CH, MARKETPLACE, CALL_CENTER = range(5)
CHANNEL_P = np.array([0.44, 0.26, 0.14, 0.11, 0.05])
PAYMENTS = ("card", "paypal", "gift_card", "bnpl", "store_credit")
CARD, PAYPAL, GIFT_CARD, BNPL, STORE_CREDIT = range(5)
PAYMENT_P = np.array([0.63, 0.15, 0.05, 0.10, 0.07])
FTYPES = ("ship_from_dc", "ship_from_store", "pickup_in_store", "marketplace_seller")
F_DC, F_STORE, F_PICKUP, F_SELLER = range(4)
# P(fulfillment type | channel), rows in CHANNELS order
FTYPE_P = np.array(
    [
        [0.56, 0.20, 0.16, 0.08],
        [0.54, 0.20, 0.18, 0.08],
        [0.30, 0.30, 0.40, 0.00],
        [0.35, 0.00, 0.00, 0.65],
        [0.85, 0.15, 0.00, 0.00],
    ]
)
SERVICES = ("standard", "express", "same_day", "pickup")
STANDARD, EXPRESS, SAME_DAY, PICKUP = range(4)
# P(service | fulfillment type) for shipped types, columns standard/express/same_day
SERVICE_P = np.array([[0.76, 0.24, 0.0], [0.52, 0.30, 0.18], [0.0, 0.0, 0.0], [0.86, 0.14, 0.0]])

CARRIERS = ("parcelpro", "swiftpost", "budgetfreight", "regionalx", "metrodash")
PARCELPRO, SWIFTPOST, BUDGETFREIGHT, REGIONALX, METRODASH = range(5)
CARRIER_STANDARD_P = np.array([0.32, 0.26, 0.24, 0.18, 0.0])
CARRIER_EXPRESS_P = np.array([0.55, 0.45, 0.0, 0.0, 0.0])
CARRIER_LATE_LOGIT = np.array([0.0, 0.25, 0.85, 0.45, 0.55])  # reliability, worse is higher

COUNTRIES = ("US", "CA", "GB", "MX", "DE", "FR", "NG", "BR", "IN", "RO", "CN", "VN")
FOREIGN_P = np.array([0, 0.22, 0.14, 0.14, 0.08, 0.06, 0.08, 0.07, 0.07, 0.05, 0.05, 0.04])
TIERS = ("none", "silver", "gold", "platinum")
TIER_P = np.array([0.56, 0.25, 0.14, 0.05])
REGIONS = ("east", "north", "south", "central", "west")

# metro: lat, lon, 3-digit postcode prefix, region index, population weight
METROS = np.array(
    [
        (40.71, -74.01, 100, 0, 9.0), (42.36, -71.06, 21, 0, 3.0), (39.95, -75.17, 191, 0, 3.0),
        (40.74, -74.17, 71, 0, 2.0), (41.76, -72.67, 61, 0, 1.2), (41.82, -71.41, 29, 0, 1.0),
        (38.91, -77.04, 200, 0, 3.0), (39.29, -76.61, 212, 0, 1.5), (40.44, -80.00, 152, 1, 1.3),
        (41.50, -81.69, 441, 1, 1.2), (42.33, -83.05, 482, 1, 2.2), (41.88, -87.63, 606, 1, 5.0),
        (44.98, -93.27, 554, 1, 2.0), (43.04, -87.91, 532, 1, 1.0), (39.96, -83.00, 432, 1, 1.2),
        (33.75, -84.39, 303, 2, 3.2), (25.76, -80.19, 331, 2, 3.5), (27.95, -82.46, 336, 2, 1.8),
        (35.23, -80.84, 282, 2, 1.5), (36.16, -86.78, 372, 2, 1.2), (29.76, -95.37, 770, 2, 3.8),
        (32.78, -96.80, 752, 2, 4.0), (30.27, -97.74, 787, 2, 1.4), (29.95, -90.07, 701, 2, 0.8),
        (38.63, -90.20, 631, 3, 1.6), (39.10, -94.58, 641, 3, 1.3), (39.74, -104.99, 802, 3, 1.8),
        (41.26, -95.93, 681, 3, 0.6), (33.45, -112.07, 850, 4, 2.8), (34.05, -118.24, 900, 4, 8.0),
        (32.72, -117.16, 921, 4, 2.0), (37.77, -122.42, 941, 4, 3.5), (47.61, -122.33, 981, 4, 2.5),
        (45.52, -122.68, 972, 4, 1.5), (36.17, -115.14, 891, 4, 1.3), (40.76, -111.89, 841, 4, 0.8),
    ]
)
METRO_LAT, METRO_LON = METROS[:, 0], METROS[:, 1]
METRO_PREFIX = METROS[:, 2].astype(np.int64)
METRO_REGION = METROS[:, 3].astype(np.int8)
METRO_W = METROS[:, 4] / METROS[:, 4].sum()
DC_SITES = np.array([(40.27, -76.88, 0), (34.06, -117.30, 4)])  # lat, lon, region

N_STORES = 180
N_DCS = 2
N_SELLERS = 24

PROMO_CODES = ("WELCOME10", "LOYAL15", "SPRING20", "SUMMER25", "BTS15", "FLASH30", "MIDYEAR20",
               "FALL20", "BLACKFRIDAY", "CYBER30", "HOLIDAY20", "NEWYEAR15", "VIP25")
EVERGREEN_PROMOS = 2  # WELCOME10, LOYAL15 run all year; the rest are events

REASONS = ("wrong_size", "defective", "damaged_in_transit", "not_as_described", "wrong_item",
           "changed_mind", "arrived_late", "other")
RETURN_CHANNELS = ("mail", "store", "kiosk", "carrier_pickup")
CONDITIONS = ("unopened", "opened", "used", "damaged")
UNOPENED, OPENED, USED, DAMAGED = range(4)
