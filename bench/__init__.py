"""nst's benches: each script runs as ``python -m bench.NAME`` from the repository's root.

Shared by them: :mod:`bench.images` (the images read, the folders written), :mod:`bench.machine`
(the machine's name in a record), :mod:`bench.quality` (the quality measures) and
:mod:`bench.sheets` (contact sheets); :mod:`bench.server` serves the app as it is deployed.
Importing any of them runs nothing. See bench/README.md for the index.
"""
