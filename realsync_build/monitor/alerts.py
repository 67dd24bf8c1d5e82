"""Alert state machine: thresholds (ITU-R BT.1359 defaults), persistence, hysteresis.

A hop is *out* when ``offset_ms > lead_ms`` (audio leads too much) or ``offset_ms < -lag_ms``
(audio lags too much; ``offset_ms`` has the sign of ``offset_sec``: + leads, - lags).  An alert starts
after ``persist`` consecutive confident out hops.  It ends after ``persist`` consecutive
confident hops back *inside* the limits narrowed by ``hysteresis_ms`` on each side (so an
offset hovering at a threshold does not flap).  Hops whose confidence is below
``min_confidence`` (silence, black frames, an undecided model) neither start, extend nor
end an alert: they leave the state and the run counters untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AlertRules:
    lead_ms: float = 45.0  # sound before picture tolerated (offset_ms <= lead_ms)
    lag_ms: float = 125.0  # sound after picture tolerated (offset_ms >= -lag_ms)
    persist: int = 2
    hysteresis_ms: float = 15.0
    min_confidence: float = 0.3

    def __post_init__(self) -> None:
        if self.lead_ms < 0 or self.lag_ms < 0:
            raise ValueError("--lead-ms and --lag-ms must be >= 0")
        if self.persist < 1:
            raise ValueError("--persist must be >= 1")
        if self.hysteresis_ms < 0 or self.hysteresis_ms > min(self.lead_ms, self.lag_ms):
            raise ValueError("--hysteresis-ms must be >= 0 and below both thresholds")

    def outside(self, offset_ms: float) -> bool:
        return offset_ms > self.lead_ms or offset_ms < -self.lag_ms

    def well_inside(self, offset_ms: float) -> bool:
        return -(self.lag_ms - self.hysteresis_ms) <= offset_ms <= self.lead_ms - self.hysteresis_ms


@dataclass
class AlertTracker:
    rules: AlertRules
    active: bool = False
    run: int = 0  # consecutive confident hops pointing at a state change
    # [start_t_s, end_t_s] of each alert, as hop times (t_s of the first persisting out hop, of the first
    # persisting back-inside hop); end None while open
    spans: list[list[float]] = field(default_factory=list)
    fired: int = 0

    def update(self, t_s: float, offset_ms: float | None, confidence: float, hop_s: float) -> bool:
        """Feed one hop; returns whether an alert is active after it."""
        if offset_ms is None or confidence < self.rules.min_confidence:
            return self.active
        if not self.active:
            self.run = self.run + 1 if self.rules.outside(offset_ms) else 0
            if self.run >= self.rules.persist:
                self.active, self.run = True, 0
                self.fired += 1
                # the alert covers the persisting hops: it starts at the first of them
                self.spans.append([max(0.0, t_s - (self.rules.persist - 1) * hop_s), None])
        else:
            self.run = self.run + 1 if self.rules.well_inside(offset_ms) else 0
            if self.run >= self.rules.persist:
                self.active, self.run = False, 0
                self.spans[-1][1] = max(self.spans[-1][0], t_s - (self.rules.persist - 1) * hop_s)
        return self.active

    def close(self, t_s: float) -> None:
        if self.active and self.spans and self.spans[-1][1] is None:
            self.spans[-1][1] = t_s
