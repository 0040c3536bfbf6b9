"""healthscore: explainable customer health scores that predict churn."""

__version__ = "0.1.0"
