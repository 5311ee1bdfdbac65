"""Measuring: J and F (`metrics`, on `metrics_core`, which the web app's bench also runs in Pyodide), `mobilevos eval`
(`command`) and `mobilevos bench` (speed and memory, `bench`)."""
