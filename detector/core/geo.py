"""Approximate country centroids, for the implied speed of a move between two countries.

Coarse on purpose: the travel rule grants `travel_slack_km` for free (border areas, big
countries), and a country missing here counts as `travel_unknown_km` away.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

#: ISO 3166 alpha-2 -> (latitude, longitude) of a rough population centre.
CENTROIDS: dict[str, tuple[float, float]] = {
    "CH": (46.8, 8.2), "FR": (46.6, 2.4), "DE": (51.1, 10.4), "IT": (42.8, 12.6),
    "AT": (47.6, 14.1), "BE": (50.6, 4.6), "NL": (52.2, 5.5), "LU": (49.8, 6.1),
    "ES": (40.2, -3.6), "PT": (39.6, -8.0), "GB": (53.0, -1.8), "UK": (53.0, -1.8),
    "IE": (53.2, -8.1), "DK": (56.0, 9.3), "SE": (60.1, 15.6), "NO": (61.4, 9.0),
    "FI": (62.6, 25.7), "IS": (64.9, -18.6), "PL": (52.1, 19.4), "CZ": (49.8, 15.5),
    "SK": (48.7, 19.7), "HU": (47.2, 19.4), "SI": (46.1, 14.8), "HR": (45.1, 15.2),
    "RS": (44.0, 20.9), "BA": (44.2, 17.8), "ME": (42.8, 19.3), "AL": (41.1, 20.1),
    "GR": (39.1, 22.0), "BG": (42.7, 25.5), "RO": (45.9, 24.9), "MD": (47.2, 28.5),
    "UA": (49.0, 31.4), "BY": (53.7, 27.9), "LT": (55.2, 23.9), "LV": (56.9, 24.6),
    "EE": (58.6, 25.0), "RU": (55.8, 37.6), "TR": (39.0, 35.2), "CY": (35.0, 33.2),
    "MT": (35.9, 14.4), "MC": (43.7, 7.4), "LI": (47.2, 9.6), "AD": (42.5, 1.5),
    "US": (39.8, -98.6), "CA": (45.4, -75.7), "MX": (23.6, -102.6), "BR": (-14.2, -51.9),
    "AR": (-38.4, -63.6), "CL": (-35.7, -71.5), "CO": (4.6, -74.3), "PE": (-9.2, -75.0),
    "CN": (35.9, 104.2), "JP": (36.2, 138.3), "KR": (35.9, 127.8), "IN": (20.6, 79.0),
    "SG": (1.35, 103.8), "HK": (22.3, 114.2), "TW": (23.7, 121.0), "TH": (15.9, 101.0),
    "VN": (14.1, 108.3), "MY": (4.2, 101.98), "ID": (-0.8, 113.9), "PH": (12.9, 121.8),
    "AU": (-25.3, 133.8), "NZ": (-40.9, 174.9), "AE": (23.4, 53.8), "SA": (23.9, 45.1),
    "IL": (31.0, 34.9), "EG": (26.8, 30.8), "MA": (31.8, -7.1), "TN": (33.9, 9.5),
    "DZ": (28.0, 1.7), "ZA": (-30.6, 22.9), "NG": (9.1, 8.7), "KE": (-0.02, 37.9),
    "QA": (25.4, 51.2), "PK": (30.4, 69.3), "BD": (23.7, 90.4), "IR": (32.4, 53.7),
}

_EARTH_KM: Final = 6371.0


@lru_cache(maxsize=4096)
def distance_km(a: str, b: str, unknown_km: float) -> float:
    """Great-circle distance between two countries' centroids; `unknown_km` if one is unknown."""
    if a == b:
        return 0.0
    pa, pb = CENTROIDS.get(a.upper()), CENTROIDS.get(b.upper())
    if pa is None or pb is None:
        return unknown_km
    lat1, lon1, lat2, lon2 = map(math.radians, (*pa, *pb))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_KM * math.asin(min(1.0, math.sqrt(h)))
