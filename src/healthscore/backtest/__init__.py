"""Backtests: does the health score predict churn on the customer's own history?

``service.run_backtest`` scores every account as of each cut-off from earlier data only
(``dataset``), computes the statistics (``evaluate``) and replays daily alerts to measure
lead time (``lead_time``); ``tune`` fits weights on training cut-offs, ``report`` renders
everything as one HTML page and ``history`` keeps results for the API and dashboard.
"""
