"""Read-side views of raw account activity: NPS answers and engagement events."""
