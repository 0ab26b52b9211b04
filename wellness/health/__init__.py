"""Query layer over one user's imported health data (read-only; the importer writes).

Modules (small on purpose, see docs/architecture.md "Query layer"):

* ``periods``   – phrases → inclusive local date ranges: ``parse_period``, ``resolve_range``,
  ``shift_range``, ``find_period`` / ``find_periods``, ``DateRange``, ``PeriodError``.
* ``metrics``   – friendly name → HealthKit type resolver + catalogue (units, cumulative vs
  discrete): ``resolve_metric``, ``MetricInfo``, ``MetricError``.
* ``queries``   – ``HealthQueries(store, user_id, today=, tz=)``: every answer as a JSON-safe
  dict with ``summary``, ``range``, units, optional ``chart`` and ``no_data``.
* ``daily``     – daily rollup reader and day/week/month buckets (``load_days``).
* ``workouts``, ``sleep``, ``activity``, ``analysis`` (trend, comparison), ``formatting``,
  ``base`` (per-user context, one-command fetches, chart payloads).
"""
