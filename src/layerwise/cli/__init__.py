"""The `layerwise` command line: argument parsing only; the work is done by the library."""
