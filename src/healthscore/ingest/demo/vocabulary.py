"""Words the demo data is written in: account names, features, events, NPS comments."""

from __future__ import annotations

FEATURES = [
    "dashboards",
    "reports",
    "alerts",
    "exports",
    "integrations",
    "api_keys",
    "sso",
    "audit_log",
    "workflows",
    "comments",
    "sharing",
    "templates",
    "mobile_app",
    "analytics_dashboard",
    "custom_fields",
]
API_FEATURES = ["api_keys", "integrations", "audit_log"]
"""What the admin of an API-only integration touches on a visit."""
OTHER_EVENTS = ["report_exported", "invite_sent", "dashboard_viewed", "integration_connected"]
NAME_FIRST = [
    "Northwind",
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Aperture",
    "Black Mesa",
    "Massive",
    "Pied Piper",
    "Dunder",
    "Sterling",
    "Bluth",
    "Prestige",
    "Duff",
]
NAME_SECOND = [
    "Logistics",
    "Labs",
    "Analytics",
    "Health",
    "Foods",
    "Energy",
    "Media",
    "Robotics",
    "Capital",
    "Systems",
    "Retail",
    "Studios",
    "Networks",
    "Bio",
    "Mobility",
    "Cloud",
]
COMMENTS = {
    "promoter": ["Great product, fast support.", "Our team lives in it.", "Indispensable."],
    "passive": ["Does the job.", "Fine, a few rough edges.", "Good but pricey."],
    "detractor": ["Too slow lately.", "Support took days to answer.", "Missing key features."],
}
CHURN_REASONS = ["budget_cut", "acquired", "switched_vendor"]
"""Why an account with no behavioural warning left (recorded once it has)."""
SEVERITIES = ["low", "normal", "high", "urgent"]
