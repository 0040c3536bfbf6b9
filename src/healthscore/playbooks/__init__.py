"""Acting on scores: playbook rules, the outreach log and action delivery."""
