"""Session: warm state across builds, fingerprints, the persistent cache and watch mode."""
