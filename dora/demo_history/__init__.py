"""The parts of the demo estate's simulation (dora.demo): team profiles, state, and the git,
release, incident and infrastructure stories the simulation tells."""
