"""Stage 1, observations: synoptic magnetograms (:mod:`~pinn.data.observations`), the ARISE active-region
table (:mod:`~pinn.data.arise`) and the real data that ship with the package (:mod:`~pinn.data.bundled`)."""
