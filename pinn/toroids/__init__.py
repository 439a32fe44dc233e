"""Stage 2, toroids: per-hemisphere warped bands fitted to a map's strong-field pixels
(:mod:`~pinn.toroids.fit`), and synthetic maps with known toroids for tests (:mod:`~pinn.toroids.synthetic`)."""
