"""Spreading requests over replicas."""

from __future__ import annotations

from fabless.errors import unknown_name_error

POLICIES = ("round_robin", "least_loaded")


class Router:
    """Picks a replica for each request.

    - ``round_robin``: replicas in turn.
    - ``least_loaded``: the replica with the fewest requests in it (waiting + running +
      awaiting transfer); ties go to the lowest index.
    """

    def __init__(self, policy: str, replicas: list):
        if policy not in POLICIES:
            raise unknown_name_error("router policy", policy, POLICIES)
        self.policy = policy
        self.replicas = replicas
        self._next = 0

    def pick(self):
        reps = self.replicas
        if len(reps) == 1:
            return reps[0]
        if self.policy == "round_robin":
            r = reps[self._next]
            self._next = (self._next + 1) % len(reps)
            return r
        return min(reps, key=lambda r: r.in_system())
