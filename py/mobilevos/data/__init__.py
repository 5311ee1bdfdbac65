"""Datasets: DAVIS / YouTube-VOS folder I/O, training clip sampling and synthetic videos."""
