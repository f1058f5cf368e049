"""Coverage-guided fuzz targets for atheris (libFuzzer); docs/reliability.md gives the commands."""
