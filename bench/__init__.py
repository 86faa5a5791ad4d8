"""The course's benchmarks: they print figures; tests never assert timings."""
