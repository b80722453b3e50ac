"""Prefers the endpoint with the fewest requests this router has sent and not seen finish.

Scraped metrics lag by a scrape interval; the router's own count does not, so a burst that
arrives between two scrapes still spreads out.
"""

from __future__ import annotations

from ..types import Candidate, SchedulingRequest
from .normalize import inverse_minmax


class InFlightScorer:
    name = "in-flight"

    def score(self, request: SchedulingRequest, candidates: list[Candidate]) -> list[float] | None:
        return inverse_minmax([float(c.in_flight) for c in candidates])
