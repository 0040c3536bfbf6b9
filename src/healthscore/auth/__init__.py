"""Who may call the API: API keys with scopes."""
