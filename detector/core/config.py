"""Every knob of the detection core, in one frozen model with defaults that work.

The streaming detector nests it as `core: CoreConfig` (env `DETECTOR_CORE__...`); offline
`score` uses the same defaults, so both score alike. Times are event-time seconds.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.schemas import Seed

#: Refit intervals a `refit_delay` may span: each fit pending meanwhile holds a copy of the
#: training sample, in memory and in every snapshot, so the queue must stay bounded.
MAX_PENDING_FITS = 16
#: The largest integer knob: the compiled kernel takes each as a 64-bit integer (beyond
#: 2^64, numba's TypingError, a traceback; from 2^63, another kernel compiled for unsigned
#: integers), with room for the sums it makes of them.
KNOB_MAX = 2**62


class CoreConfig(BaseModel):
    """Rule thresholds, window sizes, state bounds and model knobs."""

    # infinity passed every `gt`/`ge` bound (DETECTOR_CORE__BURST_WINDOW_S=inf flagged 396
    # of 544 rows without a word)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    # --- per-customer history -------------------------------------------------------
    amount_history: int = Field(default=32, ge=4, le=256, description="amounts kept per customer")
    min_history: int = Field(default=5, ge=1, description="tx before a customer is 'established'")
    prior_weight: float = Field(
        default=3.0, gt=0, le=1e12,
        description="pseudo-count of the population prior in a cold start (at most 1e12, "
        "beyond any stream's count of events; 1e308 overflowed an amount's z)",
    )
    # the bounds of knobs that size arrays: 2^62 asked numpy for more than it can address
    # (a traceback), 100,000 a gigabyte per 200 customers
    max_seen: int = Field(default=12, ge=2, le=256,
                          description="countries/categories/... kept each (at most 256)")

    # --- rules ------------------------------------------------------------------------
    high_amount_ratio: float = Field(default=5.0, gt=1, description="x the customer's median")
    high_amount_over_max: float = Field(
        default=2.0, gt=1, description="x the customer's largest recent amount"
    )
    high_amount_z: float = Field(
        default=6.0, gt=0, description="robust z of log amount, for customers without history"
    )
    night_start_hour: int = Field(default=0, ge=0, le=23)
    night_end_hour: int = Field(default=5, ge=1, le=24, description="exclusive")
    odd_hour_max_share: float = Field(
        default=0.04, ge=0, le=1, description="customer's smoothed share of tx at night"
    )
    odd_hour_min_history: int = Field(default=15, ge=1)
    duplicate_window_s: float = Field(default=900.0, gt=0)
    burst_window_s: float = Field(default=300.0, gt=0)
    burst_min_count: int = Field(  # sizes each customer's recent events: 2 x this + 8
        default=4, ge=2, le=256, description="tx in the window, this one included")
    travel_speed_kmh: float = Field(default=800.0, gt=0, description="fastest plausible trip")
    travel_slack_km: float = Field(
        default=600.0, ge=0, description="centroid distance covered for free (border areas)"
    )
    travel_unknown_km: float = Field(
        default=2500.0, ge=0, description="distance assumed when a country has no centroid"
    )
    travel_familiar_share: float = Field(
        default=0.15, ge=0, le=1, description="destinations this common for the customer pass"
    )
    travel_max_hop_rate: float = Field(
        default=0.15, ge=0, le=1, description="customers who change country this often pass"
    )
    new_country_min_history: int = Field(default=10, ge=1)
    new_country_max_rate: float = Field(
        default=0.05, ge=0, le=1, description="customers often in new countries pass"
    )

    # --- surprise terms (detector/core/surprise.py) -------------------------------------
    surprise_cap: float = Field(
        default=12.0, gt=0, le=1000,
        description="largest value of one term (at most 1000, beyond any probability a float "
        "holds, e^-744; the recalibration keeps 10 bins per unit up to it)",
    )
    surprise_floor: float = Field(
        default=2.0, ge=0, description="only a term's excess over this counts in the sum"
    )
    score_half: float = Field(
        default=8.0, gt=0, description="combined surprise that maps to score 0.5"
    )
    new_value_prior: float = Field(
        default=30.0, gt=0,
        description="pseudo-events of the population's rate of new values and of too fast "
        "country changes (a small rate needs many events to estimate)",
    )
    prior_bands: tuple[int, ...] = Field(
        default=(5,), max_length=7,
        description="bands of a customer's history (upper bounds of learnt events, or of "
        "gaps for the silence level, increasing; the last band open) over which the "
        "population priors a short history is shrunk to are tracked apart: the rate of new "
        "values and the usual gap behind `dormancy`. Counted over all events, a prior "
        "describes the most active customers; a band counts each customer's events in it "
        "once. () for one prior over established customers (as before)",
    )
    context_size: int = Field(default=8, ge=1, le=64, description="recent learnt events kept")
    context_weight: float = Field(
        default=0.5, ge=0, le=1, description="weight of the recent habit against the long one"
    )
    rate_windows_s: tuple[Annotated[float, Field(gt=0)], ...] = Field(
        default=(300.0, 3600.0, 86400.0), min_length=1,
        description="activity windows (each above 0; the longest is the `rate` term's horizon)",
    )
    repeat_window_s: float = Field(default=3600.0, gt=0, description="similar amounts window")
    similar_window_s: float = Field(
        default=7 * 86400.0, ge=0,
        description="window of the repetition test of similar amounts above the customer's "
        "level over days (the `repeat` term's second test, detector/core/surprise.py; "
        "`CustomerState.days` keeps the last 32 events within it; amounts equal to the "
        "cent are left to the exact test); at most `repeat_window_s` = off",
    )
    variety_window_s: float = Field(
        default=3600.0, ge=0,
        description="window of the variety test folded into `rate` (too many different "
        "categories among the last purchases, detector/core/variety.py); 0 = off",
    )
    hour_change_prior: float = Field(
        default=0.05, ge=0, lt=1,
        description="prior probability that a customer's hours of day changed, against which "
        "the recent hours' evidence is weighed (detector/core/hourtail.py); 0 = the older "
        "test (two recent hours that broke the habit)",
    )
    dormancy_alpha: float = Field(
        default=2.0, gt=0, description="tail of the silence model (Lomax shape)"
    )
    wake_s: float = Field(
        default=86400.0, ge=0, description="events this soon after a return from silence share it"
    )
    rule_surprise: float = Field(
        default=6.0, ge=0, description="added to the combined surprise per fired rule"
    )
    quarantine_above: float = Field(
        default=3.0, ge=0, description="combined surprise from which habits learn late"
    )
    quarantine_s: float = Field(
        default=2 * 3600.0, ge=0, description="event time before a suspicious event is learnt"
    )
    round_amounts: bool = Field(
        default=True,
        description="judge a run of round amounts (whole units, tens, hundreds, thousands) "
        "in a customer's last day against their share of amounts that round; added to "
        "amount_high (False: as before issue 13's round amounts)",
    )
    quarantine_discount: float = Field(
        default=1.0, ge=0, allow_inf_nan=True,  # inf, the one infinity that means something
        description="a suspicious event teaches the rates of new values as e^-(this x its "
        "combined surprise beyond quarantine_above) of an event (0: as an ordinary one; "
        "inf: it teaches nothing)",
    )

    # --- state bounds -----------------------------------------------------------------
    max_customers: int = Field(default=200_000, ge=1, le=KNOB_MAX,
                               description="per partition; LRU beyond")
    hot_customers: int = Field(
        default=20_000, ge=1,
        description="per partition, the most recently seen customers kept as objects (~2.2 "
        "KB each; in the kernel's slots, ~4.4 KB); the others are packed (~0.4 KB) and "
        "unpacked when seen (~20 us; ~25-50 us on the kernel); outputs are the same whatever "
        "it is",
    )
    customer_ttl_s: float = Field(
        default=180 * 86400.0, gt=0, description="state of a customer idle this long is dropped"
    )
    max_population_keys: int = Field(default=4096, ge=16, le=2**20,
                                     description="per population table (40 B a key)")

    # --- model ------------------------------------------------------------------------
    first_fit_after: int = Field(default=2000, ge=64, description="tx before the first fit")
    refit_every: int = Field(default=50_000, ge=64, description="tx between refits")
    refit_delay: int = Field(
        default=1000, ge=0,  # a 0.1 s fit spans ~100 rows of a partition at today's speed
        description="rows between a refit point and the new model taking over; the fit runs "
        "in a background thread meanwhile (0: fitted synchronously at the fit point; the "
        "first fit always is); at most 16 x refit_every",
    )
    sample_size: int = Field(default=4096, ge=64, le=2**20,
                             description="recent feature rows kept (at most 2^20, 59 MB)")
    n_trees: int = Field(default=50, ge=8, le=1024)
    max_samples: int = Field(default=256, ge=16, le=2**16)
    seed: Seed = Field(
        default=42,
        description="0 to 2^32 - 1 (beyond, seeds would wrap onto each other); fit number "
        "n's forest is seeded seed + n, modulo 2^32 (scikit-learn's range)",
    )
    ml_threshold: float = Field(
        default=0.6, ge=0, le=1,
        description="model_score >= this is an ML flag (is_ml_flag; 0.6 ~ top 0.7%)",
    )
    score_threshold: float = Field(
        default=0.5, ge=0, le=1, description="score >= this is flagged too (is_flag)"
    )
    model_weight: float = Field(
        default=0.0, ge=0, le=4,
        description="weight of the forest's surprise (its excess over the floor) in `score`",
    )

    @field_validator("*", mode="after")
    @classmethod
    def _kernel_sized(cls, value: object) -> object:
        """Every integer knob at most `KNOB_MAX` (DETECTOR_CORE__MIN_HISTORY=10**23 passed
        its `ge` and was a traceback at the first row)."""
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, int) and v > KNOB_MAX for v in values):
            raise ValueError(f"must be at most 2^62 ({KNOB_MAX})")
        return value

    @model_validator(mode="after")
    def _increasing_bands(self) -> Self:
        bands = self.prior_bands
        if any(b < 1 for b in bands) or list(bands) != sorted(set(bands)):
            raise ValueError(f"prior_bands {bands} must be increasing counts of at least 1")
        return self

    @model_validator(mode="after")
    def _bounded_refit_queue(self) -> Self:
        if self.refit_delay > MAX_PENDING_FITS * self.refit_every:
            raise ValueError(
                f"refit_delay ({self.refit_delay}) must be at most {MAX_PENDING_FITS} x "
                f"refit_every ({self.refit_every}): each fit pending meanwhile holds a copy "
                "of the training sample")
        return self
