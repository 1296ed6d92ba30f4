"""Monitoring: drift, data quality, live performance and operations over a deployment's prediction log.

:mod:`~loopwright.monitoring.stats` holds the statistics; :mod:`~loopwright.monitoring.monitors` the
monitor definitions and :class:`~loopwright.monitoring.service.MonitorService`, which runs them window by
window and stores the results as compact time series.
"""
