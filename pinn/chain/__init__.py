"""The chain that joins the stages: a case (maps up to N -> toroids -> start state -> integration -> ridges),
the one-rotation forecast and the hindcast over many rotations, and their figures."""
